package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// zone answers reverse and forward lookups from maps, standing in for DNS.
type zone struct {
	ptr map[string]string
	a   map[string][]string
}

func (z zone) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if n, ok := z.ptr[addr]; ok {
		return []string{n + "."}, nil
	}
	return nil, errors.New("no PTR")
}

func (z zone) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := z.a[host]; ok {
		return a, nil
	}
	return nil, errors.New("no A")
}

func httpProxy(t *testing.T, trusted []string, forwardVerify bool, dns zone) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dhcp.yml"), []byte(":enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &settings.Global{SettingsDirectory: dir, HTTPPort: 8000, TrustedHosts: trusted, ForwardVerify: forwardVerify}
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg := registry.New(registry.Options{Global: g, Log: log}, &echoFeature{name: "dhcp"})
	reg.Load()
	reg.Start(context.Background())
	hs := httptest.NewServer(server.New(server.Options{Global: g, Registry: reg, Log: log, Resolver: dns}).Handler(false))
	t.Cleanup(hs.Close)
	return hs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTrustedHostsOverHTTP(t *testing.T) {
	good := zone{ptr: map[string]string{"127.0.0.1": "Foreman.Example.com"}, a: map[string][]string{"foreman.example.com": {"127.0.0.1"}}}
	mismatch := zone{ptr: map[string]string{"127.0.0.1": "foreman.example.com"}, a: map[string][]string{"foreman.example.com": {"10.1.1.1"}}}
	cases := []struct {
		name    string
		trusted []string
		forward bool
		dns     zone
		status  int
		body    string
	}{
		{"unset allows everyone", nil, true, zone{}, 200, ""},
		{"empty list denies everyone", []string{}, true, good, 403, "Untrusted client foreman.example.com attempted to access /dhcp. Check :trusted_hosts: in settings.yml"},
		{"reverse and forward match", []string{"foreman.example.com"}, true, good, 200, ""},
		{"list compared case-insensitively", []string{"FOREMAN.example.com"}, true, good, 200, ""},
		{"forward mismatch", []string{"foreman.example.com"}, true, mismatch, 403, "untrusted client has no matching forward DNS lookup - foreman.example.com (127.0.0.1)"},
		{"forward check off", []string{"foreman.example.com"}, false, mismatch, 200, ""},
		{"reverse lookup fails", []string{"foreman.example.com"}, true, zone{}, 403, "Unable to resolve hostname for connection from 127.0.0.1"},
		{"name not listed", []string{"other.example.com"}, true, good, 403, "Untrusted client foreman.example.com attempted to access /dhcp."},
	}
	for _, c := range cases {
		hs := httpProxy(t, c.trusted, c.forward, c.dns)
		status, body := get(t, hs.URL+"/dhcp")
		if status != c.status || (c.body != "" && !strings.Contains(body, c.body)) {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, body, c.status, c.body)
		}
	}
}

func TestPublicEndpointsSkipTrustedHosts(t *testing.T) {
	hs := httpProxy(t, []string{}, true, zone{})
	for _, path := range []string{"/features", "/version", "/dhcp/files/x"} {
		if status, body := get(t, hs.URL+path); status != 200 {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if status, _ := get(t, hs.URL+"/v2/features"); status != 403 {
		t.Errorf("/v2/features must check trusted_hosts, got %d", status)
	}
}
