package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

func TestShippedConfigIsValid(t *testing.T) {
	var warnings []string
	c, err := Load("../../config/foreman-core.yml", func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("shipped config warns: %v", warnings)
	}
	if c.HTTPAddr() != "127.0.0.1:3000" || c.HTTPSAddr() != "" {
		t.Errorf("listeners %q %q", c.HTTPAddr(), c.HTTPSAddr())
	}
	wantDB, _ := filepath.Abs("../../var/foreman-core/foreman-core.db")
	gotDB, _ := filepath.Abs(c.Database)
	if gotDB != wantDB {
		t.Errorf("database %s, want %s", gotDB, wantDB)
	}
	if c.TokenDuration != 6*time.Hour || c.ProxyRequestTimeout != time.Minute || !c.RestrictRegisteredSmartProxies || !c.OAuthMapUsers {
		t.Errorf("defaults: %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("/etc/foreman-core/foreman-core.yml", []byte("http_port: 80\n"), func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "/var/lib/foreman-core/foreman-core.db" || c.AdminLogin != "admin" || c.LogLevel != "INFO" {
		t.Errorf("%+v", c)
	}
	if strings.Join(c.TrustedProxies, ",") != "127.0.0.1/8,::1" || len(c.TrustedHosts) != 0 {
		t.Errorf("trusted: %v %v", c.TrustedProxies, c.TrustedHosts)
	}
}

func TestDatabaseSelection(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@127.0.0.1/db": "postgres://u:p@127.0.0.1/db",
		"postgresql://127.0.0.1/db":   "postgresql://127.0.0.1/db",
		"core.sqlite":                 "/srv/state/core.sqlite",
		"/data/other.db":              "/data/other.db",
	} {
		c, err := Parse("/etc/c.yml", []byte("http_port: 80\nstate_dir: /srv/state\ndatabase: "+in+"\n"), func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		if c.Database != want {
			t.Errorf("database %q -> %q, want %q", in, c.Database, want)
		}
	}
}

func TestHTTPSWithRealCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "core CA")
	srv := ca.IssueLoopback(t, "foreman.example.test")
	yml := "https_port: 3443\nserver_certificate: " + srv.CertFile + "\nserver_private_key: " + srv.KeyFile +
		"\nclient_ca_file: " + ca.CAFile + "\nssl_certificate: " + srv.CertFile + "\nssl_priv_key: " + srv.KeyFile + "\nssl_ca_file: " + ca.CAFile + "\n"
	c, err := Parse("/etc/c.yml", []byte(yml), func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPSAddr() != ":3443" || c.HTTPAddr() != "" || c.ClientCAFile != ca.CAFile || c.SSLPrivKey != srv.KeyFile {
		t.Errorf("%+v", c)
	}
}

func TestErrorsNameFileAndKey(t *testing.T) {
	cases := []struct{ yml, want string }{
		{"http_port: 80\noauth_active: yes please\n", "/etc/c.yml: :oauth_active: must be true or false"},
		{"http_port: eighty\n", "/etc/c.yml: :http_port: must be an integer"},
		{"http_port: 70000\n", ":http_port: must be a port number 0-65535"},
		{"log_level: LOUD\nhttp_port: 1\n", ":log_level: must be one of"},
		{"https_port: 443\n", ":server_certificate: is required"},
		{"https_port: 443\nserver_certificate: /nonexistent.pem\n", ":server_certificate: names a file that cannot be read"},
		{"http_port: 0\n", ":https_port: and :http_port: are both 0"},
		{"http_port: 1\noauth_active: true\n", ":oauth_active: is true but :oauth_consumer_key:"},
		{"http_port: 1\ntrusted_proxies: [10.0.0.0/33]\n", ":trusted_proxies: items must be IP addresses or CIDR"},
		{"http_port: 1\ndns_conflict_servers: [\"127.0.0.1:99999\"]\n", ":dns_conflict_servers: items must be host or host:port"},
		{"http_port: 1\ntrusted_hosts: {a: 1}\n", ":trusted_hosts: must be a list"},
		{"http_port: 1\ntoken_duration: -5\n", ":token_duration: must not be negative"},
		{"http_port: 1\nproxy_request_timeout: 0\n", ":proxy_request_timeout: must be at least 1 second"},
		{"http_port: 1\nunattended_url: foreman\n", ":unattended_url: must be a URL"},
		{"- a\n- b\n", "top level must be a map"},
	}
	for _, tc := range cases {
		_, err := Parse("/etc/c.yml", []byte(tc.yml), func(string) {})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yml, err, tc.want)
		}
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	var warnings []string
	_, err := Parse("/etc/c.yml", []byte("http_port: 1\n:oauth_consumer_kee: x\n"), func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "/etc/c.yml: unknown setting :oauth_consumer_kee: ignored") {
		t.Errorf("warnings %v", warnings)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"), func(string) {})
	if err == nil || !strings.Contains(err.Error(), "configuration file not found") {
		t.Errorf("error %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yml")
	os.WriteFile(p, []byte("http_port: 1\nstate_dir: state\n"), 0o600)
	c, err := Load(p, func(string) {})
	if err != nil || c.StateDir != filepath.Join(dir, "state") {
		t.Errorf("%v %+v", err, c)
	}
}

func TestPuppetSettings(t *testing.T) {
	c, err := Parse("/etc/foreman-core/foreman-core.yml", []byte("http_port: 80\n"), func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if !c.CreateNewHostWhenFactsAreUploaded || !c.CreateNewHostWhenReportIsUploaded || !c.EncEnvironment || c.ConfigReportRetention != 7*24*time.Hour {
		t.Errorf("Puppet defaults: %+v", c)
	}
	c, err = Parse("f.yml", []byte("http_port: 80\ncreate_new_host_when_facts_are_uploaded: false\n"+
		"create_new_host_when_report_is_uploaded: false\nenc_environment: false\nconfig_report_retention_days: 0\n"), func(string) {})
	if err != nil || c.CreateNewHostWhenFactsAreUploaded || c.CreateNewHostWhenReportIsUploaded || c.EncEnvironment || c.ConfigReportRetention != 0 {
		t.Errorf("Puppet settings off: %+v %v", c, err)
	}
	if _, err := Parse("f.yml", []byte("http_port: 80\nconfig_report_retention_days: -1\n"), func(string) {}); err == nil ||
		!strings.Contains(err.Error(), "config_report_retention_days") {
		t.Errorf("negative retention: %v", err)
	}
}
