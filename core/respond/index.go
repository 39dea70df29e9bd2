package respond

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
)

// Index is Foreman's index layout.
type Index struct {
	Total    int                `json:"total"`
	Subtotal int                `json:"subtotal"`
	Page     int                `json:"page"`
	PerPage  int                `json:"per_page"`
	Search   *string            `json:"search"`
	Sort     map[string]*string `json:"sort"`
	Results  any                `json:"results"`
}

const (
	// DefaultPerPage is Foreman's page size when per_page is not given.
	DefaultPerPage = 20
	maxPerPage     = 1000
)

// ListOptions reads search, page, per_page and order; extra conditions are added to the
// search (a ?name=x shortcut, a nested index's owner).
func ListOptions(c echo.Context, extra ...search.Condition) (store.ListOptions, Index, error) {
	var opts store.ListOptions
	idx := Index{Page: 1, PerPage: DefaultPerPage, Sort: map[string]*string{"by": nil, "order": nil}}
	raw := c.QueryParam("search")
	q, err := search.Parse(raw)
	if err != nil {
		return opts, idx, err
	}
	if raw != "" {
		idx.Search = &raw
	}
	all := []search.Expr{q}
	for _, c := range extra {
		all = append(all, c)
	}
	opts.Search = search.All(all...)
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

// Listed answers an index, or 400 for a search the store cannot run (SearchFailed).
func Listed(c echo.Context, idx Index, counts store.Counts, results any, err error) error {
	var se *store.SearchError
	if errors.As(err, &se) {
		return SearchFailed(c, se)
	}
	if err != nil {
		return err
	}
	idx.Total, idx.Subtotal, idx.Results = counts.Total, counts.Subtotal, results
	return c.JSON(http.StatusOK, idx)
}

// SearchFailed answers a search that cannot be parsed or run (a syntax error, an
// unknown field, a value or operator the field does not take) as Foreman's API does
// for scoped search's QueryNotSupported: 400 with its param_error layout,
// {"error":{"message":…,"class":"ScopedSearch::QueryNotSupported"}}.
func SearchFailed(c echo.Context, err error) error {
	return c.JSON(http.StatusBadRequest, map[string]any{"error": map[string]any{
		"message": err.Error(), "class": "ScopedSearch::QueryNotSupported",
	}})
}
