package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
	}
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
