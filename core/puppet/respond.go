package puppet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// Errors, index pages and ids are core/respond's (the layouts core/api answers too);
// a fact or report import problem is render_message's own layout: 422 {"message": "..."}.
func message(c echo.Context, status int, format string, args ...any) error {
	return c.JSON(status, map[string]any{"message": fmt.Sprintf(format, args...)})
}

// findHost loads the host a path parameter names (id, "id-name" or name); answered
// with 404 when there is none (handled true then).
func (s *Service) findHost(c echo.Context, name string) (h store.Host, handled bool, err error) {
	raw := respond.Param(c, name)
	ctx := c.Request().Context()
	if id, ok := respond.NumericID(raw); ok {
		h, err = s.store.Host(ctx, id)
	} else {
		h, err = s.store.HostByName(ctx, strings.ToLower(raw))
	}
	if errors.Is(err, store.ErrNotFound) {
		return h, true, respond.NotFound(c, "host", raw)
	}
	return h, err != nil, err
}
