package puppet

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

// Foreman's layouts (the same as core/api's):
//   import problems (facts, reports):  422 {"message": "..."}   (render_message)
//   unreadable body:                   400 {"error": {"message": "..."}}
//   not found / invalid record:        404/422 {"error": {"id", "errors", "full_messages"}}

func message(c echo.Context, status int, format string, args ...any) error {
	return c.JSON(status, map[string]any{"message": fmt.Sprintf(format, args...)})
}

func badRequest(c echo.Context, msg string) error {
	return c.JSON(http.StatusBadRequest, map[string]any{"error": map[string]any{"message": msg}})
}

// invalid answers 422 with Rails' errors of one record: field -> messages.
func invalid(c echo.Context, id any, field, msg string) error {
	full := msg
	if field != "base" {
		full = strings.ToUpper(field[:1]) + strings.ReplaceAll(field[1:], "_", " ") + " " + msg
	}
	return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"id": id, "errors": map[string][]string{field: {msg}}, "full_messages": []string{full},
	}})
}

func notFound(c echo.Context, resource, id string) error {
	msg := fmt.Sprintf("Resource %s not found by id '%s'", resource, id)
	return c.JSON(http.StatusNotFound, map[string]any{"error": map[string]any{
		"id": id, "errors": map[string][]string{"base": {msg}}, "full_messages": []string{msg}, "message": msg,
	}})
}

// param is a path parameter unescaped.
func param(c echo.Context, name string) string {
	raw := c.Param(name)
	if v, err := url.PathUnescape(raw); err == nil {
		return v
	}
	return raw
}

// numericID reads an id as Foreman's to_param: "12" or "12-name".
func numericID(raw string) (int64, bool) {
	head := raw
	if i := strings.IndexByte(raw, '-'); i > 0 {
		head = raw[:i]
	}
	n, err := strconv.ParseInt(head, 10, 64)
	return n, err == nil && n > 0
}

// findHost loads the host a path parameter names (id, "id-name" or name); answered
// with 404 when there is none (handled true then).
func (s *Service) findHost(c echo.Context, name string) (h store.Host, handled bool, err error) {
	raw := param(c, name)
	ctx := c.Request().Context()
	if id, ok := numericID(raw); ok {
		h, err = s.store.Host(ctx, id)
	} else {
		h, err = s.store.HostByName(ctx, strings.ToLower(raw))
	}
	if errors.Is(err, store.ErrNotFound) {
		return h, true, notFound(c, "host", raw)
	}
	return h, err != nil, err
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

// listOptions reads search, page, per_page and order; extra conditions are added to
// the search (a nested index's owner).
func listOptions(c echo.Context, extra ...search.Condition) (store.ListOptions, index, error) {
	var opts store.ListOptions
	idx := index{Page: 1, PerPage: 20, Sort: map[string]*string{"by": nil, "order": nil}}
	raw := c.QueryParam("search")
	q, err := search.Parse(raw)
	if err != nil {
		return opts, idx, err
	}
	if raw != "" {
		idx.Search = &raw
	}
	opts.Search = append(q, extra...)
	if p, err := strconv.Atoi(c.QueryParam("page")); err == nil && p > 0 {
		idx.Page = p
	}
	switch pp := c.QueryParam("per_page"); {
	case pp == "all":
		idx.PerPage = 1000
	case pp != "":
		if n, err := strconv.Atoi(pp); err == nil && n > 0 {
			idx.PerPage = min(n, 1000)
		}
	}
	if order := strings.Fields(c.QueryParam("order")); len(order) > 0 {
		by, dir := order[0], "ASC"
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
		return invalid(c, nil, "base", se.Msg)
	}
	if err != nil {
		return err
	}
	idx.Total, idx.Subtotal, idx.Results = counts.Total, counts.Subtotal, results
	return c.JSON(http.StatusOK, idx)
}
