package foremanclient

import (
	"io"
	"mime"
	"net/http"
	"strings"
)

// IsForm reports whether r carries a url-encoded form body.
func IsForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// Body returns r's body for relaying and its length (-1 when unknown). A url-encoded
// form has already been read by the server's method override (Rack MethodOverride) and
// by httpapi.Params, so it is re-encoded from the parsed form: the same pairs, with the
// keys in sorted order. Any other body is streamed as it arrives.
func Body(r *http.Request) (io.Reader, int64) {
	if IsForm(r) {
		_ = r.ParseForm() // a no-op once parsed; a malformed form relays what parsed
		encoded := r.PostForm.Encode()
		return strings.NewReader(encoded), int64(len(encoded))
	}
	if r.Body == nil || r.Body == http.NoBody {
		return http.NoBody, 0
	}
	return r.Body, r.ContentLength
}
