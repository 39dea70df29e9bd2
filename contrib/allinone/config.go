package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/smartproxy/smartproxy/contrib/internal/sitepki"
)

// site is the all-in-one's generated state under dir (var/allinone).
type site struct {
	dir         string // var/allinone, absolute
	settingsDir string // the proxy's feature files: the repository's settings.d
	stateDir    string // the core's SQLite folder
	pki         sitepki.PKI
	// Secrets made on the first run and kept in files of dir.
	oauthKey, oauthSecret, adminPassword string
}

// Ports on loopback: the proxy keeps the 8000 of `make run-proxy` and README's session.
const (
	coreHTTPPort   = 3000
	coreHTTPSPort  = 3443
	proxyHTTPPort  = 8000
	proxyHTTPSPort = 8443
)

func (s *site) coreConfig() string    { return filepath.Join(s.dir, "foreman-core.yml") }
func (s *site) proxySettings() string { return filepath.Join(s.dir, "settings.yml") }

// prepare makes the PKI and secrets on the first run and (re)writes both config files,
// so a changed port or path in this program takes effect on the next run.
func (s *site) prepare() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	s.pki = sitepki.PKI{Dir: filepath.Join(s.dir, "pki")}
	if err := s.pki.Ensure("smartproxy all-in-one CA", []string{"localhost", "127.0.0.1"}, "core", "proxy"); err != nil {
		return fmt.Errorf("making the CA and certificates in %s: %w", s.pki.Dir, err)
	}
	var err error
	if s.oauthKey, err = secret(filepath.Join(s.dir, "oauth-consumer-key")); err != nil {
		return err
	}
	if s.oauthSecret, err = secret(filepath.Join(s.dir, "oauth-consumer-secret")); err != nil {
		return err
	}
	if s.adminPassword, err = secret(filepath.Join(s.dir, "admin-password")); err != nil {
		return err
	}
	core := fmt.Sprintf(`---
# Written by make run (contrib/allinone) at every start; edit config/foreman-core.yml
# for a real site. The CA, certificates and secrets beside this file are made once.
bind_host: 127.0.0.1
http_port: %d
https_port: %d
server_certificate: %s
server_private_key: %s
client_ca_file: %s
state_dir: %s
admin_login: admin
admin_password: %q
oauth_active: true
oauth_consumer_key: %q
oauth_consumer_secret: %q
oauth_map_users: true
proxy_request_timeout: 60
unattended_url: http://127.0.0.1:%d   # foreman_url in the PXE configs written at host create
dns_conflict_servers: ['127.0.0.1:5300']   # settings.d/dns_embedded.yml's server: the create's conflict check (and overwrite) sees its records
ssl_certificate: %s
ssl_priv_key: %s
ssl_ca_file: %s
log_level: INFO
log_file: STDOUT
`, coreHTTPPort, coreHTTPSPort, s.pki.Path("core.pem"), s.pki.Path("core-key.pem"), s.pki.Path("ca.pem"), s.stateDir,
		s.adminPassword, s.oauthKey, s.oauthSecret, coreHTTPPort, s.pki.Path("core.pem"), s.pki.Path("core-key.pem"), s.pki.Path("ca.pem"))
	proxy := fmt.Sprintf(`---
# Written by make run (contrib/allinone) at every start: config/settings.yml plus https
# with the all-in-one CA and the core as foreman_url.
:settings_directory: %s
:bind_host: ['127.0.0.1']
:http_port: %d
:https_port: %d
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:foreman_url: https://127.0.0.1:%d
:log_file: STDOUT
:log_level: INFO
:log_buffer: 2000
:log_buffer_errors: 1000
`, s.settingsDir, proxyHTTPPort, proxyHTTPSPort, s.pki.Path("proxy.pem"), s.pki.Path("proxy-key.pem"), s.pki.Path("ca.pem"), coreHTTPSPort)
	if err := os.WriteFile(s.coreConfig(), []byte(core), 0o600); err != nil {
		return err
	}
	return os.WriteFile(s.proxySettings(), []byte(proxy), 0o600)
}

// secret reads path, or writes a new random 32-character value there (the length the
// installer uses for OAuth credentials).
func secret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	v := hex.EncodeToString(raw)
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}
