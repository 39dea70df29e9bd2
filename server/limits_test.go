package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smartproxy/smartproxy/settings"
)

// countingBody is a large form body that counts what was read of it.
type countingBody struct {
	left int64
	read *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > b.left {
		n = b.left
	}
	for i := range p[:n] {
		p[i] = 'a'
	}
	b.left -= n
	b.read.Add(n)
	return int(n), nil
}

func (b *countingBody) Close() error { return nil }

// A POST is not read at all unless its route is known, mounted and the client is
// allowed: an unknown route or a refused client costs no memory however large the body.
func TestBodyIsNotReadBeforeRoutingAndAuthorisation(t *testing.T) {
	p := startWith(t, &settings.Global{HTTPPort: 8000, BindHost: []string{"127.0.0.1"}, TrustedHosts: []string{}},
		map[string]string{"dhcp.yml": ":enabled: true\n", "tftp.yml": ":enabled: https\n"},
		&echoFeature{name: "dhcp"}, &echoFeature{name: "tftp"})
	handler := p.server.Handler(false)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/no-such-route", http.StatusNotFound},
		{"/dhcp/10.0.0.0/extra", http.StatusNotFound},
		{"/tftp/10.0.0.0", http.StatusNotFound}, // feature not mounted on http
		{"/dhcp/10.0.0.0", http.StatusForbidden},
		{"/dhcp/upload", http.StatusForbidden},
	} {
		var read atomic.Int64
		req := httptest.NewRequest(http.MethodPost, tc.path, nil)
		req.Body = &countingBody{left: 10 << 20, read: &read}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		// The _method peek may read a bounded prefix on a path with a DELETE route.
		if rec.Code != tc.status || read.Load() > 64<<10+1 {
			t.Errorf("POST %s: %d after reading %d bytes; want %d and at most 64 KiB", tc.path, rec.Code, read.Load(), tc.status)
		}
		if tc.status == http.StatusNotFound && read.Load() != 0 {
			t.Errorf("POST %s: %d bytes read for an unknown route", tc.path, read.Load())
		}
	}
}

func TestBodyLimits(t *testing.T) {
	p := start(t, map[string]string{"dhcp.yml": ":enabled: true\n"}, &echoFeature{name: "dhcp"})
	overDefault := url.Values{"a": {strings.Repeat("x", 1<<20)}}
	manyFields := url.Values{}
	for i := 0; i < 10001; i++ {
		manyFields.Add("f", "1")
	}
	bigOverride := url.Values{"_method": {"DELETE"}, "pad": {strings.Repeat("x", 70<<10)}}
	cases := []struct {
		name, method, path string
		form               url.Values
		status             int
		body               string // exact, or a fragment for 200s
	}{
		{"form over max_body_bytes", "POST", "/dhcp/10.0.0.0", overDefault, 413, "Request body too large: this route takes at most 1048576 bytes"},
		{"route with its own limit", "POST", "/dhcp/upload", overDefault, 200, `"method":"POST"`},
		{"over the route's own limit", "POST", "/dhcp/upload", url.Values{"a": {strings.Repeat("x", 2<<20)}}, 413, "Request body too large: this route takes at most 2097152 bytes"},
		{"over 10000 fields", "POST", "/dhcp/10.0.0.0", manyFields, 400, "Too many fields in the form: 10001, at most 10000"},
		{"_method in a small form", "POST", "/dhcp/10.0.0.0", url.Values{"_method": {"delete"}, "x": {"1"}}, 200, `"method":"DELETE","params":{"_method":["delete"],"network":["10.0.0.0"],"x":["1"]}`},
		{"_method past the peek is not read before routing", "POST", "/dhcp/10.0.0.0", bigOverride, 200, `"method":"POST"`},
	}
	for _, c := range cases {
		status, body, hdr := p.do(t, c.method, c.path, c.form, nil)
		ok := status == c.status && body == c.body
		if status == 200 {
			ok = status == c.status && strings.Contains(body, c.body)
		} else if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q, want plain text", c.name, ct)
		}
		if !ok {
			t.Errorf("%s: %d %.200s, want %d %s", c.name, status, body, c.status, c.body)
		}
	}
	_, metrics, _ := p.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		`smartproxy_http_requests_refused_total{reason="body_too_large"} 2`,
		`smartproxy_http_requests_refused_total{reason="too_many_fields"} 1`,
		`smartproxy_http_requests_refused_total{reason="body_timeout"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("missing %q in\n%s", want, metrics)
		}
	}
}
