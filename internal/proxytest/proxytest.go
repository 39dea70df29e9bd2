// Package proxytest runs features through the real registry and server in tests: it
// writes settings files into a temp dir, loads and starts the features, and serves the
// http (or https) application on a loopback httptest server.
package proxytest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// Proxy is a running test proxy.
type Proxy struct {
	URL      string
	Registry *registry.Registry
	Dir      string // the settings directory (settings.yml and settings.d/)
	Client   *http.Client
}

// Start writes files (name -> content, e.g. "dhcp.yml") into <tmp>/settings.d, loads
// and starts features, and serves them over plain http (trusted_hosts unset). Features
// are stopped when the test ends. globalYAML is appended to settings.yml.
func Start(t testing.TB, globalYAML string, files map[string]string, features ...registry.Feature) *Proxy {
	t.Helper()
	return start(t, nil, globalYAML, files, features...)
}

// StartHTTPS is Start behind a real https listener: ca issues the proxy's server
// certificate (localhost, 127.0.0.1) and verifies clients, so every route that needs
// one asks for a client certificate of ca, as the production listener does. Proxy.Client
// presents such a certificate (CN proxytest-client).
func StartHTTPS(t testing.TB, ca *testpki.CA, globalYAML string, files map[string]string, features ...registry.Feature) *Proxy {
	t.Helper()
	return start(t, ca, globalYAML, files, features...)
}

func start(t testing.TB, ca *testpki.CA, globalYAML string, files map[string]string, features ...registry.Feature) *Proxy {
	t.Helper()
	dir := t.TempDir()
	sd := filepath.Join(dir, "settings.d")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sd, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gpath := filepath.Join(dir, "settings.yml")
	g := ":settings_directory: settings.d\n:http_port: 8000\n:log_file: STDOUT\n"
	if ca != nil {
		server := ca.IssueLoopback(t, "localhost")
		g = fmt.Sprintf(":settings_directory: settings.d\n:https_port: 8443\n:log_file: STDOUT\n"+
			":ssl_certificate: %s\n:ssl_private_key: %s\n:ssl_ca_file: %s\n", server.CertFile, server.KeyFile, ca.CAFile)
	}
	g += globalYAML
	if err := os.WriteFile(gpath, []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
	global, err := settings.LoadGlobal(gpath, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
	}
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, features...)
	reg.Load()
	ctx, cancel := context.WithCancel(context.Background())
	reg.Start(ctx)
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
	t.Cleanup(func() {
		cancel()
		reg.Stop(context.Background())
	})
	if ca == nil {
		hs := httptest.NewServer(srv.Handler(false))
		t.Cleanup(hs.Close)
		return &Proxy{URL: hs.URL, Registry: reg, Dir: dir, Client: hs.Client()}
	}
	conf, err := server.TLSConfig(global)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler(true))
	hs.TLS = conf
	hs.StartTLS()
	t.Cleanup(hs.Close)
	client := ca.IssueLoopback(t, "proxytest-client")
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.TLS}}}
	t.Cleanup(transport.CloseIdleConnections)
	return &Proxy{URL: hs.URL, Registry: reg, Dir: dir, Client: &http.Client{Transport: transport}}
}

// Response is a finished request.
type Response struct {
	Status int
	Body   string
	Header http.Header
}

// Do sends a request; form (may be nil) is sent url-encoded for POST/PUT/DELETE.
func (p *Proxy) Do(t testing.TB, method, path string, form url.Values) Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header}
}

// ExpectJSON fails the test unless r is a 200 whose body is the same JSON value as
// want, so tests compare what the reply means, not how the encoder spaced or ordered it.
func ExpectJSON(t testing.TB, r Response, want string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatalf("reply is not JSON: %v: %s", err, r.Body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("reply\n%s\nwant\n%s", r.Body, want)
	}
}

// State returns a feature's lifecycle state.
func (p *Proxy) State(name string) registry.State {
	s, _ := p.Registry.StateOf(name)
	return s
}
