package respond

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Param is a path parameter unescaped ("192.0.2.0%2F24" is the subnet 192.0.2.0/24).
func Param(c echo.Context, name string) string {
	raw := c.Param(name)
	if v, err := url.PathUnescape(raw); err == nil {
		return v
	}
	return raw
}

// NumericID reads an id as Foreman's to_param writes it: "12" or "12-name".
func NumericID(raw string) (int64, bool) {
	head := raw
	if i := strings.IndexByte(raw, '-'); i > 0 {
		head = raw[:i]
	}
	n, err := strconv.ParseInt(head, 10, 64)
	return n, err == nil && n > 0
}
