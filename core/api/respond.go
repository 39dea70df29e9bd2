package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
)

// Foreman's API error layouts:
//   401/403/400/500: {"error":{"message":"..."}}
//   404/422:        {"error":{"id":<id or null>,"errors":{"field":["msg"]},"full_messages":["Field msg"]}}

func messageBody(msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg}}
}

// invalid collects validation errors per field in the order found, as a Rails model's
// errors; "base" errors are not about one field.
type invalid struct {
	fields []string
	errs   map[string][]string
}

func (v *invalid) add(field, format string, args ...any) {
	if v.errs == nil {
		v.errs = map[string][]string{}
	}
	if _, seen := v.errs[field]; !seen {
		v.fields = append(v.fields, field)
	}
	v.errs[field] = append(v.errs[field], fmt.Sprintf(format, args...))
}

func (v *invalid) any() bool { return len(v.fields) > 0 }

// fullMessages are Rails' full_messages: "Name has already been taken"; base messages as they are.
func (v *invalid) fullMessages() []string {
	out := []string{}
	for _, f := range v.fields {
		for _, m := range v.errs[f] {
			if f == "base" {
				out = append(out, m)
			} else {
				out = append(out, humanize(f)+" "+m)
			}
		}
	}
	return out
}

// humanize is Rails' attribute humanisation: "dns_id" -> "Dns", "mac" -> "Mac".
func humanize(field string) string {
	s := strings.TrimSuffix(field, "_id")
	s = strings.ReplaceAll(s, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// unprocessable answers 422 with the record's id (nil for a new record).
func unprocessable(c echo.Context, id any, v *invalid) error {
	return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"id": id, "errors": v.errs, "full_messages": v.fullMessages(),
	}})
}

// baseError is a 422 with messages that are not about one field.
func baseError(c echo.Context, id any, messages ...string) error {
	v := &invalid{}
	for _, m := range messages {
		v.add("base", "%s", m)
	}
	return unprocessable(c, id, v)
}

// notFound answers 404 in the 422 layout, plus Foreman's message.
func notFound(c echo.Context, resource, id string) error {
	msg := fmt.Sprintf("Resource %s not found by id '%s'", resource, id)
	return c.JSON(http.StatusNotFound, map[string]any{"error": map[string]any{
		"id": id, "errors": map[string][]string{"base": {msg}}, "full_messages": []string{msg}, "message": msg,
	}})
}

// badRequest answers 400 for a body or parameter the API cannot read at all.
func badRequest(c echo.Context, msg string) error {
	return c.JSON(http.StatusBadRequest, messageBody(msg))
}

// TaskError is what an Orchestrator returns when a proxy step failed: each message
// becomes an entry of errors.base in the 422.
type TaskError struct{ Messages []string }

func (e *TaskError) Error() string { return strings.Join(e.Messages, "; ") }

// saveFailed answers a failed store write: a taken unique value or an orchestration
// failure is the client's 422; anything else is a server error.
func saveFailed(c echo.Context, id any, err error) error {
	var conflict *store.ConflictError
	var task *TaskError
	switch {
	case errors.As(err, &conflict):
		v := &invalid{}
		v.add(conflict.Field, "has already been taken")
		return unprocessable(c, id, v)
	case errors.As(err, &task):
		return baseError(c, id, task.Messages...)
	}
	return err
}

// inUse answers a refused destroy: "<record> is used by <what>", one message each.
func inUse(c echo.Context, id int64, record string, users []string) error {
	msgs := make([]string, len(users))
	for i, u := range users {
		msgs[i] = fmt.Sprintf("%s is used by %s", record, u)
	}
	return baseError(c, id, msgs...)
}

// index is Foreman's index layout.
type index struct {
	Total    int                `json:"total"`
	Subtotal int                `json:"subtotal"`
	Page     int                `json:"page"`
	PerPage  int                `json:"per_page"`
	Search   *string            `json:"search"`
	Sort     map[string]*string `json:"sort"`
	Results  any                `json:"results"`
}

const (
	defaultPerPage = 20
	maxPerPage     = 1000
)

// listOptions reads search, page, per_page and order. A field=value query parameter
// named in shortcuts (e.g. ?name=x) is the same as search=field="value".
func listOptions(c echo.Context, shortcuts ...string) (store.ListOptions, index, error) {
	var opts store.ListOptions
	idx := index{Page: 1, PerPage: defaultPerPage, Sort: map[string]*string{"by": nil, "order": nil}}
	raw := c.QueryParam("search")
	q, err := search.Parse(raw)
	if err != nil {
		return opts, idx, err
	}
	if raw != "" {
		idx.Search = &raw
	}
	for _, name := range shortcuts {
		if v := c.QueryParam(name); v != "" {
			q = append(q, search.Condition{Field: name, Op: "=", Value: v})
		}
	}
	opts.Search = q
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 0 {
		idx.Page = p
	}
	switch pp := c.QueryParam("per_page"); {
	case pp == "all":
		idx.PerPage = maxPerPage
	case pp != "":
		if n, err := strconv.Atoi(pp); err == nil && n > 0 {
			idx.PerPage = min(n, maxPerPage)
		}
	}
	if order := strings.Fields(c.QueryParam("order")); len(order) > 0 {
		by := order[0]
		dir := "ASC"
		if len(order) > 1 && strings.EqualFold(order[1], "desc") {
			dir = "DESC"
		}
		idx.Sort["by"], idx.Sort["order"] = &by, &dir
		opts.OrderBy, opts.Desc = by, dir == "DESC"
	}
	opts.Page, opts.PerPage = idx.Page, idx.PerPage
	return opts, idx, nil
}

// listed answers an index, or 422 for a search the store cannot run.
func listed(c echo.Context, idx index, counts store.Counts, results any, err error) error {
	var se *store.SearchError
	if errors.As(err, &se) {
		return baseError(c, nil, se.Msg)
	}
	if err != nil {
		return err
	}
	idx.Total, idx.Subtotal, idx.Results = counts.Total, counts.Subtotal, results
	return c.JSON(http.StatusOK, idx)
}

// searchFailed answers a search the parser could not read.
func searchFailed(c echo.Context, err error) error {
	return baseError(c, nil, err.Error())
}

// idParam reads :id (or another parameter) as Foreman's find_resource does: a number,
// "12-name" (to_param), or else a name for resources found by name.
func idParam(c echo.Context, name string) (id int64, byName string) {
	raw := param(c, name)
	head := raw
	if i := strings.IndexByte(raw, '-'); i > 0 {
		head = raw[:i]
	}
	if n, err := strconv.ParseInt(head, 10, 64); err == nil && n > 0 {
		return n, ""
	}
	return 0, raw
}

// param is a path parameter unescaped ("192.0.2.0%2F24" is the subnet 192.0.2.0/24).
func param(c echo.Context, name string) string {
	raw := c.Param(name)
	if v, err := url.PathUnescape(raw); err == nil {
		return v
	}
	return raw
}
