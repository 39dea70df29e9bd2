package registration

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/foremanclient"
)

// failureScript is the answer when Foreman gave no usable one: the host pipes the reply
// into a shell, so it must fail loudly there.
const failureScript = "echo \"Internal Server Error\"\nexit 1\n"

// globalRegister is GET /register: Foreman's global registration script, rendered for
// the host's query (organization, location, hostgroup, ...) and the proxy's URL.
func (f *Feature) globalRegister(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	query.Set("url", f.urlFor(r))
	header := foremanclient.RelayHeaders(r)
	header.Set("Content-Type", "application/json")
	f.relay(w, r, foremanclient.Request{Method: http.MethodGet, Path: "register", Query: query, Header: header})
}

// hostRegister is POST /register: the host registers itself. A url-encoded form goes
// to Foreman with its content type and only url in the query (its nested keys,
// host[name]=..., stay in the body); any other body (JSON) goes as application/json
// with the host's query params.
func (f *Feature) hostRegister(w http.ResponseWriter, r *http.Request) {
	header := foremanclient.RelayHeaders(r)
	var query url.Values
	if foremanclient.IsForm(r) {
		header.Set("Content-Type", r.Header.Get("Content-Type"))
		query = url.Values{}
	} else {
		header.Set("Content-Type", "application/json")
		query = r.URL.Query()
	}
	query.Set("url", f.urlFor(r))
	body, length := foremanclient.Body(r)
	f.relay(w, r, foremanclient.Request{Method: http.MethodPost, Path: "register", Query: query, Header: header, Body: body, ContentLength: length})
}

// urlFor is the proxy URL Foreman puts in the script: registration_url, else the
// scheme and host the host used to reach us.
func (f *Feature) urlFor(r *http.Request) string {
	if f.registrationURL != "" {
		return f.registrationURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// relay sends req to Foreman and answers as the Ruby proxy does: any 2xx → 200 with
// Foreman's body; another status → that status with Foreman's body when it is plain
// text (Foreman's own shell-friendly error), else failureScript; no answer → 500 with
// failureScript.
func (f *Feature) relay(w http.ResponseWriter, r *http.Request, req foremanclient.Request) {
	log := httpapi.Logger(r)
	resp, err := f.foreman.Do(r.Context(), req)
	if err != nil {
		log.Errorf("Registration: %s /register for %s: %v", r.Method, httpapi.ClientIP(r), err)
		answer(w, r, http.StatusInternalServerError, "text/plain", strings.NewReader(failureScript))
		return
	}
	defer resp.Body.Close()
	contentType := resp.Header.Get("Content-Type")
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		answer(w, r, http.StatusOK, contentType, resp.Body)
		return
	}
	log.Warnf("Registration: Foreman answered %s /register for %s with %s", r.Method, httpapi.ClientIP(r), resp.Status)
	status := resp.StatusCode
	if status < 200 || status > 599 {
		status = http.StatusBadGateway
	}
	if strings.Contains(contentType, "text/plain") {
		answer(w, r, status, contentType, resp.Body)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	answer(w, r, status, "text/plain", strings.NewReader(failureScript))
}

func answer(w http.ResponseWriter, r *http.Request, status int, contentType string, body io.Reader) {
	if contentType == "" {
		contentType = "text/plain"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	if _, err := io.Copy(w, body); err != nil {
		httpapi.Logger(r).Warnf("Registration: relaying Foreman's answer to %s: %v", httpapi.ClientIP(r), err)
	}
}
