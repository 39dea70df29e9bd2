// Package config reads foreman-core's one YAML file (config/foreman-core.yml): listeners,
// database, authentication, the TLS material used to call smart proxies, and logging.
// Keys are plain or Ruby-style (":key:"); unknown keys are warnings, a wrong type or value
// is an error naming the file and the key.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

// Config is foreman-core.yml after defaults and validation.
type Config struct {
	File string

	// Listeners. A port of 0 switches that listener off; at least one must be on.
	BindHost          string // address both listeners bind to; "" = every address
	HTTPSPort         int
	ServerCertificate string // https listener: certificate, key, and the CA client certificates are verified against
	ServerPrivateKey  string
	ClientCAFile      string
	ClientCRLFile     string // "" = no revocation check of client certificates
	HTTPPort          int

	StateDir string
	// Database is a postgres:// URL, or the path of the SQLite file.
	Database string

	OAuthActive         bool
	OAuthConsumerKey    string
	OAuthConsumerSecret string
	OAuthMapUsers       bool

	AdminLogin    string
	AdminPassword string // "" = generate one at first start and print it once

	TrustedHosts                   []string
	RestrictRegisteredSmartProxies bool
	TrustedProxies                 []string

	UnattendedURL       string
	TokenDuration       time.Duration
	TemplatesDir        string // admin copies of provisioning templates, overriding the shipped ones; "" = none
	ProxyRequestTimeout time.Duration
	// DNSConflictServers are the DNS servers (host:port) the orchestrator's conflict
	// pre-check asks; empty = the system resolver.
	DNSConflictServers []string

	// Puppet (core/puppet): Foreman's settings of the same names, and how long config
	// reports are kept (0 = forever; Foreman's reports:expire default is 7 days).
	CreateNewHostWhenFactsAreUploaded bool
	CreateNewHostWhenReportIsUploaded bool
	EncEnvironment                    bool
	ConfigReportRetention             time.Duration

	// What the core presents to proxies and how it verifies them (Foreman's names).
	SSLCertificate string
	SSLPrivKey     string
	SSLCAFile      string

	LogLevel string
	LogFile  string
}

// Defaults are Foreman's where Foreman has one.
const (
	DefaultStateDir            = "/var/lib/foreman-core"
	DefaultTokenDuration       = 360 * time.Minute
	DefaultProxyRequestTimeout = 60 * time.Second
	DefaultReportRetentionDays = 7
	sqliteFileName             = "foreman-core.db"
)

// Load reads path. Unknown keys go to warn; every problem found is returned joined.
// The returned Config is usable for reporting even when err is not nil (check-config).
func Load(path string, warn func(string)) (*Config, error) {
	s, err := settings.Load(path)
	if err != nil {
		return nil, err
	}
	if !s.Found {
		return nil, fmt.Errorf("%s: configuration file not found", path)
	}
	c := parse(s)
	s.WarnUnknown(warn)
	return c, s.Err()
}

// Parse reads a configuration from YAML bytes; file names it in messages and is the
// folder relative paths resolve against.
func Parse(file string, data []byte, warn func(string)) (*Config, error) {
	s, err := settings.Parse(file, data)
	if err != nil {
		return nil, err
	}
	c := parse(s)
	s.WarnUnknown(warn)
	return c, s.Err()
}

func parse(s *settings.Section) *Config {
	c := &Config{File: s.File}
	c.BindHost = s.String("bind_host", "")
	if c.BindHost != "" && c.BindHost != "*" && net.ParseIP(c.BindHost) == nil {
		if _, err := net.LookupHost(c.BindHost); err != nil {
			s.Fail("bind_host", "must be an IP address or a resolvable name, got %q", c.BindHost)
		}
	}
	if c.BindHost == "*" {
		c.BindHost = ""
	}
	c.HTTPSPort = port(s, "https_port")
	c.HTTPPort = port(s, "http_port")
	c.ServerCertificate = s.Path("server_certificate", "")
	c.ServerPrivateKey = s.Path("server_private_key", "")
	c.ClientCAFile = s.Path("client_ca_file", "")
	c.ClientCRLFile = s.Path("client_crl_file", "")
	if c.HTTPSPort > 0 {
		c.ServerCertificate = s.ReadableFile("server_certificate", "", true)
		c.ServerPrivateKey = s.ReadableFile("server_private_key", "", true)
		c.ClientCAFile = s.ReadableFile("client_ca_file", "", true)
		c.ClientCRLFile = s.ReadableFile("client_crl_file", "", false)
	}
	if c.HTTPSPort == 0 && c.HTTPPort == 0 {
		s.Fail("https_port", "and :http_port: are both 0 or absent: no listener would run")
	}

	c.StateDir = s.Path("state_dir", DefaultStateDir)
	c.Database = s.String("database", "")
	if !IsPostgres(c.Database) {
		switch {
		case c.Database == "":
			c.Database = filepath.Join(c.StateDir, sqliteFileName)
		case !filepath.IsAbs(c.Database):
			c.Database = filepath.Join(c.StateDir, c.Database)
		}
	}

	c.OAuthActive = s.Bool("oauth_active", false)
	c.OAuthConsumerKey = s.String("oauth_consumer_key", "")
	c.OAuthConsumerSecret = s.String("oauth_consumer_secret", "")
	c.OAuthMapUsers = s.Bool("oauth_map_users", true)
	if c.OAuthActive && (c.OAuthConsumerKey == "" || c.OAuthConsumerSecret == "") {
		s.Fail("oauth_active", "is true but :oauth_consumer_key: or :oauth_consumer_secret: is empty")
	}

	c.AdminLogin = s.String("admin_login", "admin")
	if strings.TrimSpace(c.AdminLogin) == "" {
		s.Fail("admin_login", "must not be empty")
	}
	c.AdminPassword = s.String("admin_password", "")

	c.TrustedHosts = s.StringList("trusted_hosts", []string{})
	c.RestrictRegisteredSmartProxies = s.Bool("restrict_registered_smart_proxies", true)
	c.TrustedProxies = s.StringList("trusted_proxies", []string{"127.0.0.1/8", "::1"})
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				s.Fail("trusted_proxies", "items must be IP addresses or CIDR subnets, got %q", p)
			}
		}
	}

	c.UnattendedURL = s.URL("unattended_url")
	c.TokenDuration = time.Duration(nonNegative(s, "token_duration", int(DefaultTokenDuration/time.Minute))) * time.Minute
	c.TemplatesDir = s.Path("templates_dir", "")
	if c.TemplatesDir != "" {
		if fi, err := os.Stat(c.TemplatesDir); err != nil || !fi.IsDir() {
			s.Fail("templates_dir", "must name a readable folder, got %q", c.TemplatesDir)
		}
	}
	c.ProxyRequestTimeout = time.Duration(nonNegative(s, "proxy_request_timeout", int(DefaultProxyRequestTimeout/time.Second))) * time.Second
	if c.ProxyRequestTimeout == 0 {
		s.Fail("proxy_request_timeout", "must be at least 1 second")
		c.ProxyRequestTimeout = DefaultProxyRequestTimeout
	}

	c.DNSConflictServers = s.StringList("dns_conflict_servers", []string{})
	for i, server := range c.DNSConflictServers {
		if _, _, err := net.SplitHostPort(server); err != nil {
			server = net.JoinHostPort(server, "53")
		}
		if host, port, err := net.SplitHostPort(server); err != nil || host == "" || port == "0" || !validPort(port) {
			s.Fail("dns_conflict_servers", "items must be host or host:port, got %q", c.DNSConflictServers[i])
		}
		c.DNSConflictServers[i] = server
	}

	c.CreateNewHostWhenFactsAreUploaded = s.Bool("create_new_host_when_facts_are_uploaded", true)
	c.CreateNewHostWhenReportIsUploaded = s.Bool("create_new_host_when_report_is_uploaded", true)
	c.EncEnvironment = s.Bool("enc_environment", true)
	c.ConfigReportRetention = time.Duration(nonNegative(s, "config_report_retention_days", DefaultReportRetentionDays)) * 24 * time.Hour

	c.SSLCertificate = s.ReadableFile("ssl_certificate", "", false)
	c.SSLPrivKey = s.ReadableFile("ssl_priv_key", "", false)
	c.SSLCAFile = s.ReadableFile("ssl_ca_file", "", false)
	if (c.SSLCertificate == "") != (c.SSLPrivKey == "") {
		s.Fail("ssl_certificate", "and :ssl_priv_key: must be set together")
	}

	c.LogLevel = strings.ToUpper(s.String("log_level", "INFO"))
	switch c.LogLevel {
	case "DEBUG", "INFO", "WARN", "ERROR":
	default:
		s.Fail("log_level", "must be one of DEBUG, INFO, WARN, ERROR, got %q", c.LogLevel)
		c.LogLevel = "INFO"
	}
	c.LogFile = s.String("log_file", "STDOUT")
	if !strings.EqualFold(c.LogFile, "STDOUT") {
		c.LogFile = s.Path("log_file", "")
	}
	return c
}

// IsPostgres reports whether a database setting selects PostgreSQL.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// HTTPSAddr and HTTPAddr are the listeners' addresses, "" when that listener is off.
func (c *Config) HTTPSAddr() string { return addr(c.BindHost, c.HTTPSPort) }
func (c *Config) HTTPAddr() string  { return addr(c.BindHost, c.HTTPPort) }

func addr(host string, port int) string {
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(host, fmt.Sprint(port))
}

func port(s *settings.Section, key string) int {
	p := s.Int(key, 0)
	if p < 0 || p > 65535 {
		s.Fail(key, "must be a port number 0-65535, got %d", p)
		return 0
	}
	return p
}

func nonNegative(s *settings.Section, key string, def int) int {
	n := s.Int(key, def)
	if n < 0 {
		s.Fail(key, "must not be negative, got %d", n)
		return def
	}
	return n
}

// validPort is a decimal TCP/UDP port, 1-65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
