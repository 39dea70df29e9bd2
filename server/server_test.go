package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// echoFeature answers its routes with the merged params, so routing and param rules
// can be checked through the real server.
type echoFeature struct {
	name     string
	startErr error
}

func (f *echoFeature) Name() string                  { return f.name }
func (f *echoFeature) Configure(*registry.Env) error { return nil }
func (f *echoFeature) Start(context.Context) error   { return f.startErr }
func (f *echoFeature) Capabilities() []string        { return []string{"z_cap", "a_cap"} }
func (f *echoFeature) ExposedSettings() map[string]any {
	return map[string]any{f.name + "_url": "http://" + f.name}
}
func (f *echoFeature) Routes() []registry.Route {
	reply := func(w http.ResponseWriter, r *http.Request) {
		httpapi.Logger(r).Info("handled " + f.name)
		httpapi.JSON(w, http.StatusOK, map[string]any{"method": r.Method, "params": httpapi.Params(r)})
	}
	return []registry.Route{
		{Method: http.MethodGet, Path: "/" + f.name, Handler: reply},
		{Method: http.MethodGet, Path: "/" + f.name + "/literal", Handler: reply},
		{Method: http.MethodGet, Path: "/" + f.name + "/:network/mac/:mac", Handler: reply},
		{Method: http.MethodPost, Path: "/" + f.name + "/:network", Handler: reply},
		{Method: http.MethodDelete, Path: "/" + f.name + "/:network", Handler: reply},
		{Method: http.MethodGet, Path: "/" + f.name + "/files/*", Handler: reply, Public: true},
		{Method: http.MethodPost, Path: "/" + f.name + "/upload", Handler: reply, MaxBodyBytes: 2 << 20},
	}
}

type testProxy struct {
	http   *httptest.Server
	buffer *logging.Buffer
	server *server.Server
}

func start(t *testing.T, files map[string]string, features ...registry.Feature) *testProxy {
	t.Helper()
	return startWith(t, &settings.Global{HTTPPort: 8000, BindHost: []string{"127.0.0.1"}}, files, features...)
}

// startWith is start with global settings of the test's own (SettingsDirectory is set here).
func startWith(t *testing.T, g *settings.Global, files map[string]string, features ...registry.Feature) *testProxy {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.SettingsDirectory = dir
	log := logrus.New()
	log.SetOutput(io.Discard)
	buf := logging.NewBuffer(100, 10, logrus.InfoLevel)
	log.AddHook(buf)
	reg := registry.New(registry.Options{Global: g, Log: log, Failures: buf, Version: "3.11.0-develop"}, features...)
	reg.Load()
	reg.Start(context.Background())
	srv := server.New(server.Options{Global: g, Registry: reg, Log: log, Version: "3.11.0-develop"})
	hs := httptest.NewServer(srv.Handler(false))
	t.Cleanup(hs.Close)
	return &testProxy{http: hs, buffer: buf, server: srv}
}

func (p *testProxy) do(t *testing.T, method, path string, body url.Values, header map[string]string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, _ := http.NewRequest(method, p.http.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestRootEndpointShapes(t *testing.T) {
	p := start(t, map[string]string{
		"dhcp.yml": ":enabled: true\n", "tftp.yml": ":enabled: http\n", "broken.yml": ":enabled: true\n",
	}, &echoFeature{name: "tftp"}, &echoFeature{name: "dhcp"}, &echoFeature{name: "broken", startErr: io.EOF}, &echoFeature{name: "off"})

	status, body, hdr := p.do(t, "GET", "/features", nil, nil)
	if status != 200 || body != `["dhcp","tftp"]` || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("/features: %d %s %q", status, body, hdr.Get("Content-Type"))
	}
	if got := hdr.Get("Server"); got != "foreman-proxy/3.11.0-develop" {
		t.Errorf("Server header %q", got)
	}

	status, body, _ = p.do(t, "GET", "/version", nil, nil)
	if status != 200 || body != `{"version":"3.11.0-develop","modules":{"dhcp":"3.11.0","tftp":"3.11.0"}}` {
		t.Errorf("/version: %d %s", status, body)
	}

	status, body, _ = p.do(t, "GET", "/v2/features", nil, nil)
	if status != 200 {
		t.Fatalf("/v2/features: %d %s", status, body)
	}
	var v2 map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &v2); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"dhcp":   `{"capabilities":["a_cap","z_cap"],"http_enabled":true,"https_enabled":true,"settings":{"dhcp_url":"http://dhcp"},"state":"running"}`,
		"tftp":   `{"capabilities":["a_cap","z_cap"],"http_enabled":true,"https_enabled":false,"settings":{"tftp_url":"http://tftp"},"state":"running"}`,
		"broken": `{"capabilities":["a_cap","z_cap"],"http_enabled":false,"https_enabled":false,"settings":{"broken_url":"http://broken"},"state":"failed"}`,
		"off":    `{"capabilities":["a_cap","z_cap"],"http_enabled":false,"https_enabled":false,"settings":{"off_url":null},"state":"disabled"}`,
	} {
		got, _ := json.Marshal(v2[name])
		if string(got) != want {
			t.Errorf("v2 %s:\n got  %s\n want %s", name, got, want)
		}
	}
}

func TestRoutingRules(t *testing.T) {
	p := start(t, map[string]string{"dhcp.yml": ":enabled: true\n", "tftp.yml": ":enabled: https\n"},
		&echoFeature{name: "dhcp"}, &echoFeature{name: "tftp"})
	cases := []struct {
		name, method, path string
		form               url.Values
		status             int
		contains           string
	}{
		{"trailing slash optional", "GET", "/dhcp/", nil, 200, `"method":"GET"`},
		{"literal beats capture", "GET", "/dhcp/literal", nil, 200, `"params":{}`},
		{"captures keep colons and dots", "GET", "/dhcp/192.168.1.0/mac/AA:bb:cc:dd:ee:ff", nil, 200, `"mac":["AA:bb:cc:dd:ee:ff"],"network":["192.168.1.0"]`},
		{"path wins over query", "GET", "/dhcp/10.0.0.0/mac/aa?network=evil&x=1", nil, 200, `"network":["10.0.0.0"],"x":["1"]`},
		{"form and query merge", "POST", "/dhcp/10.0.0.0?q=1", url.Values{"hostname": {"h"}, "network": {"evil"}}, 200, `"hostname":["h"],"network":["10.0.0.0"],"q":["1"]`},
		{"_method override", "POST", "/dhcp/10.0.0.0", url.Values{"_method": {"DELETE"}}, 200, `"method":"DELETE"`},
		{"wildcard", "GET", "/dhcp/files/a/b.efi", nil, 200, `"splat":["a/b.efi"]`},
		{"unknown url", "GET", "/nope", nil, 404, "Requested url was not found"},
		{"a capture never spans a slash", "GET", "/dhcp/10.0.0.0/mac/aa/bb", nil, 404, "Requested url was not found"},
		{"nor does a capture of a POST route", "POST", "/dhcp/10.0.0.0/extra", url.Values{"a": {"1"}}, 404, "Requested url was not found"},
		{"wrong method is not found", "PUT", "/dhcp/10.0.0.0", nil, 404, "Requested url was not found"},
		{"https-only feature absent on http", "GET", "/tftp", nil, 404, "Requested url was not found"},
	}
	for _, c := range cases {
		status, body, _ := p.do(t, c.method, c.path, c.form, nil)
		if status != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %s, want %d containing %s", c.name, status, body, c.status, c.contains)
		}
	}
}

func TestRequestIDReachesLogBuffer(t *testing.T) {
	p := start(t, map[string]string{"dhcp.yml": ":enabled: true\n"}, &echoFeature{name: "dhcp"})
	p.do(t, "GET", "/dhcp", nil, map[string]string{"X-Request-Id": "1f2e3d4c-aaaa-bbbb-cccc-000000000000"})
	found := false
	for _, e := range p.buffer.Since(0) {
		if e.Message == "handled dhcp" {
			found = true
			if e.RequestID != "1f2e3d4c" {
				t.Errorf("request_id = %q, want the first 8 chars", e.RequestID)
			}
		}
	}
	if !found {
		t.Fatal("handler log line not buffered")
	}
}

func TestFailedFeatureDoesNotTakeOthersDown(t *testing.T) {
	p := start(t, map[string]string{"dhcp.yml": ":enabled: true\n", "dns.yml": ":enabled: true\n"},
		&echoFeature{name: "dns", startErr: io.ErrUnexpectedEOF}, &echoFeature{name: "dhcp"})
	if status, _, _ := p.do(t, "GET", "/dns", nil, nil); status != 404 {
		t.Errorf("failed feature's routes must not answer, got %d", status)
	}
	if status, _, _ := p.do(t, "GET", "/dhcp", nil, nil); status != 200 {
		t.Errorf("healthy feature must keep answering, got %d", status)
	}
}

func TestErrorBodyFollowsAccept(t *testing.T) {
	for accept, ct := range map[string]string{"application/json": "application/json", "text/html": "text/plain; charset=utf-8"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Accept", accept)
		httpapi.Error(rec, req, 409, "Record 10.0.0.0/10.0.0.5 already exists")
		if rec.Code != 409 || rec.Body.String() != "Record 10.0.0.0/10.0.0.5 already exists" || rec.Header().Get("Content-Type") != ct {
			t.Errorf("accept %s: %d %q %q", accept, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
		}
	}
}
