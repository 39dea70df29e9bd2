package respond

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/labstack/echo/v4"
)

// MaxBody bounds a request body: a fact upload of a big host is a few hundred KB, a
// report with every resource's log a few MB.
const MaxBody = 10 << 20

// ValueError is what a field's UnmarshalJSON returns for a value it refuses: the
// client's 422 with the message in errors.base, not a 400.
type ValueError struct{ Msg string }

func (e *ValueError) Error() string { return e.Msg }

// ReadBody reads the whole body, answering 400 when it is unreadable or too large
// (handled is true then).
func ReadBody(c echo.Context) (data []byte, handled bool, err error) {
	data, err = io.ReadAll(io.LimitReader(c.Request().Body, MaxBody+1))
	if err != nil {
		return nil, true, BadRequest(c, "Unable to read the request body: "+err.Error())
	}
	if len(data) > MaxBody {
		return nil, true, BadRequest(c, fmt.Sprintf("The request body is larger than %d bytes", MaxBody))
	}
	return data, false, nil
}

// DecodeJSON reads a JSON object into dst, unwrapping it from the first of wrappers
// present: Foreman wraps attributes in the resource's name ({"smart_proxy":{...}}) and
// Rails accepts them unwrapped too. An empty body is {}. Not a JSON object is a 400;
// a value of the wrong type a 422 naming the field, a ValueError a 422 of its message
// (answered here: handled is true then).
func DecodeJSON(c echo.Context, data []byte, dst any, wrappers ...string) (handled bool, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return true, BadRequest(c, "The request body is not a JSON object: "+err.Error())
	}
	inner := data
	for _, w := range wrappers {
		if v, ok := top[w]; ok {
			inner = v
			break
		}
	}
	if err := json.Unmarshal(inner, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		var valueErr *ValueError
		switch {
		case errors.As(err, &typeErr):
			return true, FieldError(c, nil, typeErr.Field, fmt.Sprintf("is invalid (expected %s, got a JSON %s)", typeErr.Type, typeErr.Value))
		case errors.As(err, &valueErr):
			return true, BaseError(c, nil, valueErr.Msg)
		}
		return true, BadRequest(c, "The request body is not valid: "+err.Error())
	}
	return false, nil
}

// DecodeBody is ReadBody and then DecodeJSON.
func DecodeBody(c echo.Context, dst any, wrappers ...string) (handled bool, err error) {
	data, handled, err := ReadBody(c)
	if handled {
		return true, err
	}
	return DecodeJSON(c, data, dst, wrappers...)
}
