package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/config"
	"github.com/smartproxy/smartproxy/settings"
)

// The generated files load with the programs' own loaders, and a second run keeps the
// CA, certificates and secrets of the first.
func TestPrepareWritesValidConfigsOnce(t *testing.T) {
	dir := t.TempDir()
	settingsDir, _ := filepath.Abs("../../settings.d")
	s := &site{dir: filepath.Join(dir, "allinone"), settingsDir: settingsDir, stateDir: filepath.Join(dir, "allinone", "foreman-core")}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	core, err := config.Load(s.coreConfig(), func(w string) { t.Errorf("foreman-core.yml: %s", w) })
	if err != nil {
		t.Fatalf("foreman-core.yml does not load: %v", err)
	}
	if !core.OAuthActive || core.OAuthConsumerKey != s.oauthKey || core.OAuthConsumerSecret != s.oauthSecret ||
		core.AdminPassword != s.adminPassword || len(s.oauthSecret) != 32 || core.HTTPSPort != coreHTTPSPort ||
		core.UnattendedURL != "http://127.0.0.1:3000" || len(core.DNSConflictServers) != 1 || core.DNSConflictServers[0] != "127.0.0.1:5300" {
		t.Fatalf("core config %+v", core)
	}
	// The conflict check asks the embedded DNS server the shipped settings start.
	if dns, _ := os.ReadFile(filepath.Join(settingsDir, "dns_embedded.yml")); !strings.Contains(string(dns), "\n:listen: "+core.DNSConflictServers[0]+"\n") {
		t.Errorf("settings.d/dns_embedded.yml does not listen on %s", core.DNSConflictServers[0])
	}
	global, err := settings.LoadGlobal(s.proxySettings(), func(w string) { t.Errorf("settings.yml: %s", w) })
	if err != nil || !global.HTTPSEnabled() || global.HTTPSPort != proxyHTTPSPort || global.HTTPPort != proxyHTTPPort {
		t.Fatalf("proxy settings %+v, %v", global, err)
	}

	// Both certificates are good for 127.0.0.1 and localhost under the CA, for either end.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(s.pki.Path("ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	for _, name := range []string{"core", "proxy"} {
		pair, err := tls.LoadX509KeyPair(s.pki.Path(name+".pem"), s.pki.Path(name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		for _, host := range []string{"127.0.0.1", "localhost"} {
			opts := x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("%s for %s: %v", name, host, err)
			}
		}
	}
	if _, err := os.Stat(s.pki.Path("ca-key.pem")); err == nil {
		t.Error("the CA key was kept")
	}

	again := &site{dir: s.dir, settingsDir: settingsDir, stateDir: s.stateDir}
	if err := again.prepare(); err != nil {
		t.Fatal(err)
	}
	caAgain, _ := os.ReadFile(s.pki.Path("ca.pem"))
	if string(caAgain) != string(caPEM) || again.oauthKey != s.oauthKey || again.oauthSecret != s.oauthSecret || again.adminPassword != s.adminPassword {
		t.Fatal("a second run changed the CA or the secrets")
	}
}
