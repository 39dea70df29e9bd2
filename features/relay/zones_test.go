package relay_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/smartproxy/smartproxy/core/proxies"

	"github.com/smartproxy/smartproxy/features/httpboot"
	"github.com/smartproxy/smartproxy/features/logs"
	"github.com/smartproxy/smartproxy/features/relay"
	"github.com/smartproxy/smartproxy/internal/ca"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/logging"
)

// The core's own proxy client (feature discovery, /version) reaches a PFS proxy through
// the DMZ relay: the proxy is registered with https://dmz-relay/proxy/pfs1 and trusts
// only the relay's certificate.
func TestCoreReachesZoneProxyThroughRelay(t *testing.T) {
	pki := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, pki)
	pfs := proxytest.StartHTTPS(t, pki, ":trusted_hosts: [dmz-relay]\n",
		map[string]string{"httpboot.yml": ":enabled: true\n:root_dir: " + t.TempDir() + "\n"},
		logs.New(logging.NewBuffer(100, 10, logrus.InfoLevel)), httpboot.New())
	files := map[string]string{"relay.yml": relayYAML(t, pki, pki.IssueLoopback(t, "dmz-relay"), core.URL(),
		":downstream_proxies:\n  pfs1: "+pfs.URL+"\n")}
	dmz := proxytest.StartHTTPS(t, pki, ":trusted_hosts: [foreman.example.test]\n", files, relay.New())

	foreman := pki.IssueLoopback(t, "foreman.example.test")
	client := proxies.NewClient(&tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{foreman.TLS}}, 10*time.Second)
	registered := dmz.URL + "/proxy/pfs1"
	features, err := client.Features(context.Background(), registered)
	if err != nil {
		t.Fatalf("discovery through the relay: %v", err)
	}
	names := []string{}
	for _, f := range features {
		names = append(names, f.Name)
	}
	if fmt.Sprint(names) != "[HTTPBoot Logs]" {
		t.Fatalf("features through the relay: %v", names)
	}
	if v, err := client.Version(context.Background(), registered); err != nil || v["version"] != "3.11.0" {
		t.Fatalf("version through the relay: %v %v", v, err)
	}
	// The PFS proxy trusts the relay, not the core: the core's own certificate is refused there.
	if _, err := client.Features(context.Background(), pfs.URL); err == nil || !strings.Contains(err.Error(), "Untrusted client foreman.example.test") {
		t.Fatalf("the core's certificate directly at the PFS proxy: %v", err)
	}
	if len(core.requests()) != 0 {
		t.Fatal("outbound calls went to the core")
	}
}

// A revoked certificate is refused on both sides of a relay: a revoked client by its
// listener (ssl_crl_file), a revoked next hop by its client (next_hop_ssl_crl, which
// defaults to ssl_crl_file). Certificates and CRL come from the zones' CA tooling.
func TestRevokedCertificatesRefused(t *testing.T) {
	authority, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{Name: "Zones CA"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) *ca.Issued {
		got, err := authority.Issue(ca.IssueRequest{Name: name, SANs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	pool := x509.NewCertPool()
	pool.AddCert(authority.Cert)
	caFile := filepath.Join(authority.Dir, "ca.pem")
	pair := func(i *ca.Issued) tls.Certificate {
		c, err := tls.LoadX509KeyPair(i.CertFile, i.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	coreCert, relayCert, puppet, oldPuppet := issue("core"), issue("pfs-relay"), issue("puppet"), issue("old-puppet")
	core := newStandInCoreWith(t, pair(coreCert), pool)
	p := newRelayProcessFiles(t, "pfs-relay", relayCert.CertFile, relayCert.KeyFile, caFile, authority.CRLPath(),
		core.URL(), "[puppet, old-puppet]", "[]")
	p.ca = pool
	p.start()
	client := func(i *ca.Issued) *http.Client {
		c := pair(i)
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{c}}}}
	}

	// A client that keeps its connection open across the revocation.
	keptAlive := client(oldPuppet)
	if a := send(t, keptAlive, "GET", p.url+"/node/web01.example.test", "", nil); a.status != 200 {
		t.Fatalf("before revocation: %d %s", a.status, a.body)
	}
	if _, err := authority.Revoke("old-puppet", time.Hour); err != nil {
		t.Fatal(err)
	}
	touchLater(t, authority.CRLPath())
	if a := send(t, keptAlive, "GET", p.url+"/node/web01.example.test", "", nil); a.status != http.StatusForbidden {
		t.Fatalf("a revoked client on its open connection: %d %s", a.status, a.body)
	}
	req, _ := http.NewRequest("GET", p.url+"/node/web01.example.test", nil)
	if resp, err := client(oldPuppet).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a revoked client certificate got %d", resp.StatusCode)
	}
	if a := send(t, client(puppet), "GET", p.url+"/node/web02.example.test", "", nil); a.status != 200 {
		t.Fatalf("a valid certificate after the revocation: %d %s", a.status, a.body)
	}

	// The core's certificate revoked: the relay refuses to talk to it, also on the
	// connection it keeps open to the core.
	before := len(core.requests())
	if _, err := authority.Revoke("core", time.Hour); err != nil {
		t.Fatal(err)
	}
	touchLater(t, authority.CRLPath())
	a := send(t, client(puppet), "GET", p.url+"/node/web03.example.test", "", nil)
	if a.status != http.StatusBadGateway || !strings.Contains(string(a.body), "certificate revoked") {
		t.Fatalf("ENC with a revoked core: %d %s", a.status, a.body)
	}
	t.Logf("ENC with a revoked core: %d %s", a.status, a.body)
	if len(core.requests()) != before {
		t.Fatal("the relay sent a request to a revoked core")
	}
}

// touchLater moves the file's time forward, so a reload keyed on (size, mtime) sees the
// rewrite even within the filesystem's time granularity.
func touchLater(t *testing.T, path string) {
	t.Helper()
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}
