package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
)

// The answer shapes themselves are core/respond's; these are core/api's uses of them.

// TaskError is what an Orchestrator returns when a proxy step failed: each message
// becomes an entry of errors.base in the 422.
type TaskError struct{ Messages []string }

func (e *TaskError) Error() string { return strings.Join(e.Messages, "; ") }

// saveFailed answers a failed store write: an orchestration failure is the client's
// 422 too, each message in errors.base.
func saveFailed(c echo.Context, id any, err error) error {
	var task *TaskError
	if errors.As(err, &task) {
		return respond.BaseError(c, id, task.Messages...)
	}
	return respond.SaveFailed(c, id, err)
}

// inUse answers a refused destroy: "<record> is used by <what>", one message each.
func inUse(c echo.Context, id int64, record string, users []string) error {
	msgs := make([]string, len(users))
	for i, u := range users {
		msgs[i] = fmt.Sprintf("%s is used by %s", record, u)
	}
	return respond.BaseError(c, id, msgs...)
}

// listOptions reads an index's query. A field=value query parameter named in shortcuts
// (e.g. ?name=x) is the same as search=field="value".
func listOptions(c echo.Context, shortcuts ...string) (store.ListOptions, respond.Index, error) {
	var extra []search.Condition
	for _, name := range shortcuts {
		if v := c.QueryParam(name); v != "" {
			extra = append(extra, search.Condition{Field: name, Op: "=", Value: v})
		}
	}
	return respond.ListOptions(c, extra...)
}

// searchFailed answers a search the parser could not read (400, respond.SearchFailed).
func searchFailed(c echo.Context, err error) error {
	return respond.SearchFailed(c, err)
}

// idParam reads :id (or another parameter) as Foreman's find_resource does: a number,
// "12-name" (to_param), or else a name for resources found by name.
func idParam(c echo.Context, name string) (id int64, byName string) {
	raw := respond.Param(c, name)
	if n, ok := respond.NumericID(raw); ok {
		return n, ""
	}
	return 0, raw
}
