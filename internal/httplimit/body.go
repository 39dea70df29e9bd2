package httplimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// MaxFormFields is the most fields a form or query string may have; it is also
// net/url's own limit, so a client hears why instead of losing its fields.
const MaxFormFields = 10000

// Reasons a request is refused for its body, as counted in metrics.
const (
	ReasonTooLarge      = "body_too_large"
	ReasonTooManyFields = "too_many_fields"
	ReasonTimeout       = "body_timeout"
)

// Error is a request refused for what its client sent: the status and the plain-text
// message to answer with.
type Error struct {
	Status  int
	Message string
	Reason  string // one of the Reason constants
}

func (e *Error) Error() string { return e.Message }

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Reason: ReasonTooLarge,
		Message: fmt.Sprintf("Request body too large: this route takes at most %d bytes", limit)}
}

// LimitBody makes reading more than limit bytes of r's body fail with
// *http.MaxBytesError (and net/http close the connection after the answer). A body
// whose Content-Length already says it is too large is refused before a byte of it
// is read. limit <= 0 leaves the body unbounded.
func LimitBody(w http.ResponseWriter, r *http.Request, limit int64) *Error {
	if limit <= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return nil
}

// BodyError maps a failed body read to what the client did wrong: 413 past the
// limit LimitBody set, 408 when the body did not arrive within the request timeout.
// Other errors (a client that went away) return nil.
func BodyError(err error) *Error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(tooBig.Limit)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Status: http.StatusRequestTimeout, Reason: ReasonTimeout,
			Message: "Request body not received in time"}
	}
	return nil
}

// IsForm reports whether r's body is url-encoded form data.
func IsForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// ReadForm fills r.Form and r.PostForm as r.ParseForm does (the query string, plus a
// url-encoded body), reading the body within the limit LimitBody
// set. What the client got wrong is an *Error: 413, 408, or 400 for more than
// MaxFormFields fields. Malformed escapes are not an error here: like ParseForm, the
// fields that parse are kept and the handler validates what it needs.
func ReadForm(r *http.Request) *Error {
	if r.Form != nil {
		return nil
	}
	if err := checkFieldCount("query string", r.URL.RawQuery); err != nil {
		return err
	}
	// Any method, as Rack reads forms: a POST turned DELETE by "_method" keeps its fields.
	if IsForm(r) && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			if e := BodyError(err); e != nil {
				return e
			}
			return &Error{Status: http.StatusBadRequest, Message: "Could not read the request body: " + err.Error()}
		}
		if err := checkFieldCount("form", string(body)); err != nil {
			return err
		}
		// Malformed escapes leave the fields that did parse, as in ParseForm.
		r.PostForm, _ = url.ParseQuery(string(body))
		// Handlers that read the raw body (a CSR posted as a form) still can.
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	_ = r.ParseForm() // the query string; the body, if any, is parsed above
	return nil
}

func checkFieldCount(what, encoded string) *Error {
	if encoded == "" {
		return nil
	}
	// Counted as net/url counts them, so we refuse exactly where it would.
	if n := strings.Count(encoded, "&") + 1; n > MaxFormFields {
		return &Error{Status: http.StatusBadRequest, Reason: ReasonTooManyFields,
			Message: fmt.Sprintf("Too many fields in the %s: %d, at most %d", what, n, MaxFormFields)}
	}
	return nil
}

// BodyLimit is net/http middleware for one route (or a whole mux): it bounds the body
// to limit bytes and reads the form before next runs, answering what the client got
// wrong with refuse (nil: the status and message as plain text) and counting it.
func BodyLimit(limit int64, counted *Refusals, refuse func(http.ResponseWriter, *http.Request, *Error)) func(http.Handler) http.Handler {
	if refuse == nil {
		refuse = func(w http.ResponseWriter, _ *http.Request, e *Error) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(e.Status)
			_, _ = io.WriteString(w, e.Message)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e := LimitBody(w, r, limit)
			if e == nil {
				e = ReadForm(r)
			}
			if e != nil {
				if counted != nil {
					counted.Count(e)
				}
				refuse(w, r, e)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
