// Package respond holds the answer shapes of Foreman's REST API that core/api and
// core/puppet share: the error layouts, the index page, and reading an id or a list query.
package respond

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// Foreman's API error layouts:
//   400/401/403/500: {"error":{"message":"..."}}
//   404/422:        {"error":{"id":<id or null>,"errors":{"field":["msg"]},"full_messages":["Field msg"]}}

// MessageBody is the {"error":{"message":...}} layout.
func MessageBody(msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg}}
}

// BadRequest answers 400 for a body or parameter the API cannot read at all.
func BadRequest(c echo.Context, msg string) error {
	return c.JSON(http.StatusBadRequest, MessageBody(msg))
}

// Errors collects validation errors per field in the order found, as a Rails model's
// errors; "base" errors are not about one field.
type Errors struct {
	fields []string
	errs   map[string][]string
}

// Add records a message about field.
func (v *Errors) Add(field, format string, args ...any) {
	if v.errs == nil {
		v.errs = map[string][]string{}
	}
	if _, seen := v.errs[field]; !seen {
		v.fields = append(v.fields, field)
	}
	v.errs[field] = append(v.errs[field], fmt.Sprintf(format, args...))
}

// Any tells whether a message was added.
func (v *Errors) Any() bool { return len(v.fields) > 0 }

// FullMessages are Rails' full_messages: "Name has already been taken"; base messages as they are.
func (v *Errors) FullMessages() []string {
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

// Unprocessable answers 422 with the record's id (nil for a new record).
func Unprocessable(c echo.Context, id any, v *Errors) error {
	return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"id": id, "errors": v.errs, "full_messages": v.FullMessages(),
	}})
}

// FieldError is a 422 with one message about one field.
func FieldError(c echo.Context, id any, field, msg string) error {
	v := &Errors{}
	v.Add(field, "%s", msg)
	return Unprocessable(c, id, v)
}

// BaseError is a 422 with messages that are not about one field.
func BaseError(c echo.Context, id any, messages ...string) error {
	v := &Errors{}
	for _, m := range messages {
		v.Add("base", "%s", m)
	}
	return Unprocessable(c, id, v)
}

// SaveFailed answers a failed store write: a taken unique value is the client's 422
// ("Name has already been taken", as Rails says); any other error is the server's.
func SaveFailed(c echo.Context, id any, err error) error {
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return FieldError(c, id, conflict.Field, "has already been taken")
	}
	return err
}

// NotFound answers 404 in the 422 layout, plus Foreman's message.
func NotFound(c echo.Context, resource, id string) error {
	msg := fmt.Sprintf("Resource %s not found by id '%s'", resource, id)
	return c.JSON(http.StatusNotFound, map[string]any{"error": map[string]any{
		"id": id, "errors": map[string][]string{"base": {msg}}, "full_messages": []string{msg}, "message": msg,
	}})
}
