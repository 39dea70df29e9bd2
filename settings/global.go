package settings

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/httplimit"
)

// Global holds settings.yml (spec §4.1).
type Global struct {
	File              string
	SettingsDirectory string
	SSLCertificate    string
	SSLPrivateKey     string
	SSLCAFile         string
	SSLCRLFile        string // "" = no revocation check
	SSLDisabledCipher []string
	TLSDisabledVers   []string
	// TrustedHosts is nil when unset (no check) and empty when set to [] (deny all).
	TrustedHosts      []string
	ForwardVerify     bool
	ForemanURL        string
	ForemanSSLCA      string
	ForemanSSLCert    string
	ForemanSSLKey     string
	BindHost          []string
	HTTPPort          int // 0 = http off
	HTTPSPort         int
	LogFile           string
	LogLevel          string
	LogBuffer         int
	LogBufferErrors   int
	DNSResolvTimeouts []int
	// StateDefaults is settings.yml itself, read for StateKeys only: every module
	// inherits the keys its own file leaves out (the registry calls Inherit).
	StateDefaults *Section
	// Limits bound every listener (timeouts, sizes, connections); MaxConnections 0
	// means derived from the open-files limit at start.
	Limits httplimit.Settings
}

// LoadGlobal reads settings.yml; problems are returned joined, each naming file and key.
// Unknown keys are passed to warn.
func LoadGlobal(path string, warn func(string)) (*Global, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	if !s.Found {
		return nil, fmt.Errorf("%s: settings file not found", path)
	}
	g := ParseGlobal(s)
	s.WarnUnknown(warn)
	return g, s.Err()
}

// ParseGlobal reads global settings from a section, recording problems in it.
func ParseGlobal(s *Section) *Global {
	g := &Global{File: s.File}
	g.SettingsDirectory = s.Path("settings_directory", "settings.d")
	g.SSLCertificate = s.Path("ssl_certificate", "")
	g.SSLPrivateKey = s.Path("ssl_private_key", "")
	g.SSLCAFile = s.Path("ssl_ca_file", "")
	g.SSLCRLFile = s.Path("ssl_crl_file", "")
	g.SSLDisabledCipher = s.StringList("ssl_disabled_ciphers", nil)
	g.TLSDisabledVers = s.StringList("tls_disabled_versions", nil)
	if s.Has("trusted_hosts") {
		g.TrustedHosts = s.StringList("trusted_hosts", []string{})
		if g.TrustedHosts == nil {
			g.TrustedHosts = []string{}
		}
	} else {
		s.Raw("trusted_hosts") // ":trusted_hosts:" with no value is null: no check, as in Ruby
	}
	g.ForwardVerify = s.Bool("forward_verify", true)
	g.ForemanURL = s.URL("foreman_url")
	if g.ForemanURL != "" && !strings.HasSuffix(g.ForemanURL, "/") {
		g.ForemanURL += "/"
	}
	g.ForemanSSLCA = s.Path("foreman_ssl_ca", "")
	g.ForemanSSLCert = s.Path("foreman_ssl_cert", "")
	g.ForemanSSLKey = s.Path("foreman_ssl_key", "")
	g.BindHost = s.StringList("bind_host", []string{"*"})
	g.HTTPPort = port(s, "http_port", 0)
	g.HTTPSPort = port(s, "https_port", 8443)
	g.LogFile = s.String("log_file", "/var/log/foreman-proxy/proxy.log")
	g.LogLevel = strings.ToUpper(s.String("log_level", "INFO"))
	switch g.LogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "UNKNOWN":
	default:
		s.Fail("log_level", "must be one of DEBUG, INFO, WARN, ERROR, FATAL, UNKNOWN, got %q", g.LogLevel)
		g.LogLevel = "INFO"
	}
	g.LogBuffer = nonNegative(s, "log_buffer", 2000)
	g.LogBufferErrors = nonNegative(s, "log_buffer_errors", 1000)
	// Known Ruby keys accepted without effect: log rotation is logrotate's job, the
	// line format is fixed to the Ruby default "%d %.8X{request} [%.1l] %m", the proxy
	// always runs in the foreground, and virsh_network is for the libvirt providers,
	// which this proxy does not have.
	for _, k := range []string{"file_rolling_size", "file_rolling_age", "file_rolling_keep", "file_logging_pattern",
		"system_logging_pattern", "daemon", "daemon_pid", "virsh_network"} {
		s.Raw(k)
	}
	g.DNSResolvTimeouts = intList(s, "dns_resolv_timeouts", []int{5, 8, 13})
	g.Limits = parseLimits(s)
	for _, k := range StateKeys {
		s.Raw(k) // validated by the modules that inherit them
	}
	g.StateDefaults = s
	return g
}

// StateKeys are the shared-state settings (internal/etcdstate) settings.yml may
// hold for every module that keeps state (issue 14: backend "per feature or
// global"); a module's own file overrides each key.
var StateKeys = []string{"state_backend", "etcd_endpoints", "etcd_ca", "etcd_cert", "etcd_key",
	"etcd_prefix", "etcd_timeout", "etcd_node_name"}

// parseLimits reads the listener limits; every one has a safe default.
func parseLimits(s *Section) httplimit.Settings {
	d := httplimit.Defaults()
	seconds := func(key string, def time.Duration) time.Duration {
		n := s.Int(key, int(def/time.Second))
		if n <= 0 {
			s.Fail(key, "must be a positive number of seconds, got %d", n)
			return def
		}
		return time.Duration(n) * time.Second
	}
	atLeast := func(key string, def, least int) int {
		n := s.Int(key, def)
		if n < least {
			s.Fail(key, "must be at least %d, got %d", least, n)
			return def
		}
		return n
	}
	return httplimit.Settings{
		RequestTimeout: seconds("request_timeout", d.RequestTimeout),
		HeaderTimeout:  seconds("header_timeout", d.HeaderTimeout),
		IdleTimeout:    seconds("idle_timeout", d.IdleTimeout),
		// Below 4 KiB ordinary requests with Foreman's headers would not fit.
		MaxHeaderBytes:          atLeast("max_header_bytes", d.MaxHeaderBytes, 4096),
		MaxBodyBytes:            int64(atLeast("max_body_bytes", int(d.MaxBodyBytes), 1024)),
		MaxConnections:          atLeast("max_connections", d.MaxConnections, 0),
		MaxConnectionsPerClient: atLeast("max_connections_per_client", d.MaxConnectionsPerClient, 0),
	}
}

func port(s *Section, key string, def int) int {
	p := s.Int(key, def)
	if p < 0 || p > 65535 {
		s.Fail(key, "must be a port number 0-65535, got %d", p)
		return def
	}
	return p
}

func nonNegative(s *Section, key string, def int) int {
	n := s.Int(key, def)
	if n < 0 {
		s.Fail(key, "must not be negative, got %d", n)
		return def
	}
	return n
}

func intList(s *Section, key string, def []int) []int {
	v, ok := s.Raw(key)
	if !ok {
		return def
	}
	list, isList := v.([]any)
	if !isList {
		s.Fail(key, "must be a list of integers, got %s", kind(v))
		return def
	}
	out := make([]int, 0, len(list))
	for _, item := range list {
		n, isInt := item.(int)
		if !isInt || n <= 0 {
			s.Fail(key, "must be a list of positive integers, got %v", item)
			return def
		}
		out = append(out, n)
	}
	return out
}

// HTTPSEnabled reports whether the https listener can run (all three SSL files set).
func (g *Global) HTTPSEnabled() bool {
	return g.SSLCertificate != "" && g.SSLPrivateKey != "" && g.SSLCAFile != "" && g.HTTPSPort > 0
}

// HTTPEnabled reports whether the http listener runs.
func (g *Global) HTTPEnabled() bool { return g.HTTPPort > 0 }

// ForemanClientTLS returns the CA, certificate and key used to talk to Foreman, falling
// back to the proxy's own ssl_* trio as the Ruby proxy does.
func (g *Global) ForemanClientTLS() (ca, cert, key string) {
	ca, cert, key = g.ForemanSSLCA, g.ForemanSSLCert, g.ForemanSSLKey
	if ca == "" {
		ca = g.SSLCAFile
	}
	if cert == "" || key == "" {
		cert, key = g.SSLCertificate, g.SSLPrivateKey
	}
	return ca, cert, key
}

// ModuleFile is the path of settings.d/<name>.yml.
func (g *Global) ModuleFile(name string) string {
	return filepath.Join(g.SettingsDirectory, name+".yml")
}
