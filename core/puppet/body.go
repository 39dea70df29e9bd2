package puppet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
)

// maxBody bounds a request body: a fact upload of a big host is a few hundred KB, a
// report with every resource's log a few MB.
const maxBody = 10 << 20

// readBody reads the whole body, answering 400 when it is unreadable or too large.
func readBody(c echo.Context) (data []byte, handled bool, err error) {
	data, err = io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
	if err != nil {
		return nil, true, respond.BadRequest(c, "Unable to read the request body: "+err.Error())
	}
	if len(data) > maxBody {
		return nil, true, respond.BadRequest(c, fmt.Sprintf("The request body is larger than %d bytes", maxBody))
	}
	return data, false, nil
}

// decodeJSON reads a JSON object into dst, unwrapping it from the first of wrappers
// present ({"config_report": {...}}; Rails accepts unwrapped attributes too).
func decodeJSON(c echo.Context, data []byte, dst any, wrappers ...string) (handled bool, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return true, respond.BadRequest(c, "The request body is not a JSON object: "+err.Error())
	}
	inner := data
	for _, w := range wrappers {
		if v, ok := top[w]; ok {
			inner = v
			break
		}
	}
	if err := json.Unmarshal(inner, dst); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			return true, respond.FieldError(c, nil, te.Field, fmt.Sprintf("is invalid (expected %s, got a JSON %s)", te.Type, te.Value))
		}
		return true, respond.BadRequest(c, "The request body is not valid: "+err.Error())
	}
	return false, nil
}
