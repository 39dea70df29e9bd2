// Package httpapi holds what every feature's REST handlers share: Sinatra-style merged
// params, plain-text error bodies as Foreman expects them, JSON replies, and the
// per-request logger. Features use plain net/http handlers so the web framework stays
// inside package server.
package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/logging"
)

type ctxKey int

const (
	pathParamsKey ctxKey = iota
	loggerKey
	tlsIdentityKey
)

// WithPathParams returns r carrying the path captures of its route (set by the server).
func WithPathParams(r *http.Request, params map[string]string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), pathParamsKey, params))
}

// PathParam returns one path capture; the wildcard capture is named "splat".
func PathParam(r *http.Request, name string) string {
	m, _ := r.Context().Value(pathParamsKey).(map[string]string)
	return m[name]
}

// Params merges query string, form body and path captures into one map as Sinatra
// does; a path capture wins over a query or form value of the same name.
func Params(r *http.Request) url.Values {
	out := url.Values{}
	if r.Form == nil {
		_ = r.ParseForm() // a malformed body leaves the query params; handlers validate
	}
	for k, v := range r.Form {
		out[k] = append([]string(nil), v...)
	}
	if m, _ := r.Context().Value(pathParamsKey).(map[string]string); m != nil {
		for k, v := range m {
			out.Set(k, v)
		}
	}
	return out
}

// WithLogger returns r carrying a logger that tags every line with the request id.
func WithLogger(r *http.Request, log *logrus.Entry) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), loggerKey, log))
}

// Logger returns the request's logger (the standard logger when the server set none).
func Logger(r *http.Request) *logrus.Entry {
	return LoggerFrom(r.Context())
}

// LoggerFrom returns the logger carried by ctx.
func LoggerFrom(ctx context.Context) *logrus.Entry {
	if l, ok := ctx.Value(loggerKey).(*logrus.Entry); ok {
		return l
	}
	return logrus.NewEntry(logrus.StandardLogger())
}

// Error answers with status and the bare message, as the Ruby proxy's log_halt does:
// the body is never JSON-encoded, and Content-Type is application/json only when the
// client accepts JSON (Foreman does). 5xx messages are logged as errors, others as warnings.
// Messages often quote what the client sent, so control characters are escaped
// (logging.Escape): the reply and the log line stay one line each, whatever the name.
func Error(w http.ResponseWriter, r *http.Request, status int, msg string) {
	msg = logging.Escape(msg)
	log := Logger(r)
	if status >= 500 {
		log.Error(msg)
	} else {
		log.Warn(msg)
	}
	if AcceptsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// AcceptsJSON reports whether the Accept header allows application/json.
func AcceptsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if mt == "application/json" || mt == "application/*" || mt == "*/*" {
			return true
		}
	}
	return false
}

// JSON answers with status and v encoded as JSON.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "could not encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Empty answers 200 with an empty body: what Foreman reads as success of a mutating call.
func Empty(w http.ResponseWriter) {
	w.WriteHeader(http.StatusOK)
}

// ClientIP is the remote address without the port.
func ClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
