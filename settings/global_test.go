package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/httplimit"
)

func TestRubyInstallerSettingsFile(t *testing.T) {
	var warnings []string
	g, err := LoadGlobal("../testdata/ruby/settings.yml", func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings for an installer-written file: %q", warnings)
	}
	want := &Global{
		File:              "../testdata/ruby/settings.yml",
		SettingsDirectory: "/etc/foreman-proxy/settings.d",
		SSLCertificate:    "/etc/foreman-proxy/ssl_cert.pem",
		SSLPrivateKey:     "/etc/foreman-proxy/ssl_key.pem",
		SSLCAFile:         "/etc/foreman-proxy/ssl_ca.pem",
		TLSDisabledVers:   []string{},
		TrustedHosts:      []string{"foreman.example.com"},
		ForwardVerify:     true,
		ForemanURL:        "https://foreman.example.com/",
		BindHost:          []string{"*"},
		HTTPPort:          0,
		HTTPSPort:         8443,
		LogFile:           "/var/log/foreman-proxy/proxy.log",
		LogLevel:          "INFO",
		LogBuffer:         2000,
		LogBufferErrors:   1000,
		DNSResolvTimeouts: []int{5, 8, 13},
		Limits:            httplimit.Defaults(),
	}
	if g.StateDefaults == nil {
		t.Error("StateDefaults must hold settings.yml for the modules to inherit from")
	}
	want.StateDefaults = g.StateDefaults
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}
	if !g.HTTPSEnabled() || g.HTTPEnabled() {
		t.Error("https must be on (ssl trio set), http off (no http_port)")
	}
}

func TestGlobalDefaultsAndRelativeSettingsDirectory(t *testing.T) {
	s := NewSection("/etc/proxy/settings.yml", map[string]any{":http_port:": 8000})
	g := ParseGlobal(s)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if g.SettingsDirectory != filepath.Join("/etc/proxy", "settings.d") {
		t.Errorf("settings dir = %q", g.SettingsDirectory)
	}
	if g.TrustedHosts != nil {
		t.Errorf("unset trusted_hosts must be nil (no check), got %#v", g.TrustedHosts)
	}
	if g.HTTPSEnabled() {
		t.Error("https needs the ssl trio")
	}
	if g.ModuleFile("dhcp") != "/etc/proxy/settings.d/dhcp.yml" {
		t.Errorf("module file = %q", g.ModuleFile("dhcp"))
	}
}

func TestTrustedHostsEmptyListDeniesAll(t *testing.T) {
	s := parse(t, ":trusted_hosts: []\n")
	g := ParseGlobal(s)
	if g.TrustedHosts == nil || len(g.TrustedHosts) != 0 {
		t.Fatalf("[] must be an empty, non-nil list; got %#v", g.TrustedHosts)
	}
	s = parse(t, ":trusted_hosts:\n")
	if g := ParseGlobal(s); g.TrustedHosts != nil {
		t.Fatalf("null trusted_hosts must be unset; got %#v", g.TrustedHosts)
	}
}

func TestGlobalErrors(t *testing.T) {
	s := parse(t, ":http_port: 70000\n:log_level: LOUD\n:foreman_url: foreman\n:log_buffer: -1\n:dns_resolv_timeouts: [5, x]\n")
	ParseGlobal(s)
	err := s.Err()
	for _, want := range []string{":http_port: must be a port number", ":log_level: must be one of", ":foreman_url: must be a URL", ":log_buffer: must not be negative", ":dns_resolv_timeouts: must be a list of positive integers"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestLimits(t *testing.T) {
	s := parse(t, ":request_timeout: 5\n:header_timeout: '3'\n:idle_timeout: 7\n:max_header_bytes: 8192\n"+
		":max_body_bytes: 2048\n:max_connections: 100\n:max_connections_per_client: 0\n")
	g := ParseGlobal(s)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	want := httplimit.Settings{RequestTimeout: 5 * time.Second, HeaderTimeout: 3 * time.Second, IdleTimeout: 7 * time.Second,
		MaxHeaderBytes: 8192, MaxBodyBytes: 2048, MaxConnections: 100, MaxConnectionsPerClient: 0}
	if g.Limits != want {
		t.Errorf("got  %v\nwant %v", g.Limits, want)
	}

	s = parse(t, ":request_timeout: 0\n:idle_timeout: -1\n:header_timeout: soon\n:max_header_bytes: 100\n"+
		":max_body_bytes: 10\n:max_connections: -5\n:max_connections_per_client: -1\n")
	g = ParseGlobal(s)
	for _, want := range []string{
		":request_timeout: must be a positive number of seconds, got 0",
		":idle_timeout: must be a positive number of seconds, got -1",
		":header_timeout: must be an integer",
		":max_header_bytes: must be at least 4096, got 100",
		":max_body_bytes: must be at least 1024, got 10",
		":max_connections: must be at least 0, got -5",
		":max_connections_per_client: must be at least 0, got -1",
	} {
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if g.Limits != httplimit.Defaults() {
		t.Errorf("a refused value must leave the default, got %v", g.Limits)
	}
}

func TestForemanClientTLSFallsBackToProxyCerts(t *testing.T) {
	g := &Global{SSLCAFile: "ca", SSLCertificate: "cert", SSLPrivateKey: "key"}
	if ca, c, k := g.ForemanClientTLS(); ca != "ca" || c != "cert" || k != "key" {
		t.Errorf("fallback: %s %s %s", ca, c, k)
	}
	g.ForemanSSLCA, g.ForemanSSLCert, g.ForemanSSLKey = "fca", "fcert", "fkey"
	if ca, c, k := g.ForemanClientTLS(); ca != "fca" || c != "fcert" || k != "fkey" {
		t.Errorf("own: %s %s %s", ca, c, k)
	}
}

func TestBindHostStringBecomesList(t *testing.T) {
	g := ParseGlobal(parse(t, ":bind_host: 127.0.0.1\n"))
	if !reflect.DeepEqual(g.BindHost, []string{"127.0.0.1"}) {
		t.Fatalf("bind_host = %v", g.BindHost)
	}
}

func TestLoadGlobalMissingFile(t *testing.T) {
	_, err := LoadGlobal(filepath.Join(t.TempDir(), "settings.yml"), func(string) {})
	if err == nil || !strings.Contains(err.Error(), "settings file not found") {
		t.Fatalf("err = %v", err)
	}
}

// Keys of the Ruby proxy's settings.yml.example that mean nothing here are accepted
// without a warning; a misspelt one still warns.
func TestRubyOnlyKeysAreQuiet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.yml")
	if err := os.WriteFile(path, []byte(`---
:daemon: true
:daemon_pid: /var/run/foreman-proxy/foreman-proxy.pid
:virsh_network: default
:file_rolling_size: 0
:file_rolling_keep: 6
:file_rolling_age: weekly
:file_logging_pattern: '%d %.8X{request} [%.1l] %m'
:system_logging_pattern: '%m'
:http_port: 8000
:log_file_rolling_keep: 6
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	if _, err := LoadGlobal(path, func(w string) { warnings = append(warnings, w) }); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], ":log_file_rolling_keep:") {
		t.Fatalf("warnings = %q, want only the misspelt key", warnings)
	}
}
