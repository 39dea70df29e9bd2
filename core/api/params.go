package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
)

// maxBody bounds a JSON request body (a fact upload is a few hundred KB at most).
const maxBody = 10 << 20

// decodeBody reads a JSON object into dst. Foreman wraps attributes in the resource's
// name ({"smart_proxy":{...}}) and Rails also accepts them unwrapped: both work. A
// body that is not JSON is a 400; a value of the wrong type a 422 naming the field
// (answered here: handled is true then).
func decodeBody(c echo.Context, wrapper string, dst any) (handled bool, err error) {
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
	if err != nil {
		return true, respond.BadRequest(c, "Unable to read the request body: "+err.Error())
	}
	if len(data) > maxBody {
		return true, respond.BadRequest(c, fmt.Sprintf("The request body is larger than %d bytes", maxBody))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return true, respond.BadRequest(c, "The request body is not a JSON object: "+err.Error())
	}
	inner := data
	if w, ok := top[wrapper]; ok {
		inner = w
	}
	if err := json.Unmarshal(inner, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			v := &respond.Errors{}
			v.Add(typeErr.Field, "is invalid (expected %s, got a JSON %s)", typeErr.Type.String(), typeErr.Value)
			return true, respond.Unprocessable(c, nil, v)
		}
		var idErr *idError
		if errors.As(err, &idErr) {
			v := &respond.Errors{}
			v.Add("base", "%s", idErr.Error())
			return true, respond.Unprocessable(c, nil, v)
		}
		return true, respond.BadRequest(c, "The request body is not valid: "+err.Error())
	}
	return false, nil
}

// optID is a reference in a request body: absent (Set false), null (Set, ID nil) or a
// number, also accepted as a string of digits as Rails does.
type optID struct {
	Set bool
	ID  *int64
}

type idError struct{ raw string }

func (e *idError) Error() string { return fmt.Sprintf("%s is not a valid id", e.raw) }

func (o *optID) UnmarshalJSON(data []byte) error {
	o.Set = true
	s := strings.Trim(string(data), `"`)
	if s == "null" || s == "" {
		o.ID = nil
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return &idError{raw: string(data)}
	}
	o.ID = &n
	return nil
}

// apply sets *dst when the reference was given.
func (o optID) apply(dst **int64) {
	if o.Set {
		*dst = o.ID
	}
}

// ids is a list of references (domain_ids, architecture_ids, ...); nil when absent.
type ids []int64

func (l *ids) UnmarshalJSON(data []byte) error {
	var raw []optID
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := ids{}
	for _, r := range raw {
		if r.ID != nil {
			out = append(out, *r.ID)
		}
	}
	*l = out
	return nil
}

// setString sets *dst when the attribute was given (null counts as "").
func setString(dst *string, v *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
	}
}
