package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
)

// The core's https listener with client_crl_file, certificates from the zones' CA
// (internal/ca, what `smart-proxy ca` runs): a proxy's certificate is accepted, then
// refused in the handshake once revoked and the new CRL copied over the file; a
// certificate of another CA is refused; a CRL of another CA stops the start.
func TestClientCRL(t *testing.T) {
	authority, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{Name: "Zones CA"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(c *ca.CA, name string, sans ...string) *ca.Issued {
		t.Helper()
		got, err := c.Issue(ca.IssueRequest{Name: name, SANs: sans})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	server := issue(authority, "localhost", "127.0.0.1")
	dmz, pfs := issue(authority, "relay.dmz.example.com"), issue(authority, "relay.pfs.example.com")
	crlFile := filepath.Join(t.TempDir(), "crl.pem") // the core's copy
	copyCRL := func() {
		t.Helper()
		data, err := os.ReadFile(authority.CRLPath())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crlFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyCRL()
	caFile := filepath.Join(authority.Dir, ca.CertFile)
	addr, stateDir := freeAddr(t), t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	configText := fmt.Sprintf("bind_host: 127.0.0.1\nhttps_port: %s\nserver_certificate: %s\nserver_private_key: %s\n"+
		"client_ca_file: %s\nclient_crl_file: %s\nstate_dir: %s\nadmin_password: secret-for-the-test\nlog_level: INFO\n",
		port, server.CertFile, server.KeyFile, caFile, crlFile, stateDir)
	core := start(t, writeConfig(t, configText), addr)

	pool := x509.NewCertPool()
	pool.AddCert(authority.Cert)
	var getWith func(*http.Client) (int, error)
	clientFor := func(certFile, keyFile string, keepAlive bool) *http.Client {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive, TLSClientConfig: &tls.Config{
			RootCAs: pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}}}
	}
	// get asks with a certificate on a new connection: revocation is checked at the handshake.
	get := func(certFile, keyFile string) (int, error) {
		return getWith(clientFor(certFile, keyFile, false))
	}
	getWith = func(client *http.Client) (int, error) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/api/v2/hosts", nil)
		req.SetBasicAuth("admin", "secret-for-the-test")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body) // read to the end, so the connection is kept
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// A client that keeps its connection open across the revocation.
	keptAlive := clientFor(pfs.CertFile, pfs.KeyFile, true)
	if status, err := getWith(keptAlive); status != 200 {
		t.Fatalf("kept-alive client before revocation: %d %v", status, err)
	}
	for _, c := range []*ca.Issued{dmz, pfs} {
		if status, err := get(c.CertFile, c.KeyFile); status != 200 {
			t.Fatalf("%s before revocation: %d %v\n%s", c.Cert.Subject.CommonName, status, err, core.output())
		}
	}
	stranger := issue(mustInit(t, "Zones CA"), "relay.dmz.example.com")
	if _, err := get(stranger.CertFile, stranger.KeyFile); err == nil {
		t.Error("a certificate of another CA with the same names was accepted")
	}

	if _, err := authority.Revoke("relay.pfs.example.com", 0); err != nil {
		t.Fatal(err)
	}
	copyCRL()
	if status, err := getWith(keptAlive); status != http.StatusForbidden {
		t.Errorf("revoked certificate on its open connection: %d %v, want 403", status, err)
	}
	if _, err := get(pfs.CertFile, pfs.KeyFile); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Errorf("revoked certificate: %v, want a bad certificate alert", err)
	}
	if status, err := get(dmz.CertFile, dmz.KeyFile); status != 200 {
		t.Errorf("valid certificate after another's revocation: %d %v", status, err)
	}
	if out := core.output(); !strings.Contains(out, "Loaded CRL "+crlFile+": 1 revoked certificate(s)") ||
		!strings.Contains(out, "Refused a TLS client: certificate revoked: serial 3, CN=relay.pfs.example.com") {
		t.Errorf("reload or refusal not logged:\n%s", out)
	}

	if _, err := authority.CRL(3 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	copyCRL()
	if out, code := runBinary(t, "check-config", "--config", writeConfig(t, configText)); code != 0 ||
		!strings.Contains(out, "warning: https: client_crl_file "+crlFile+" must be rewritten before ") {
		t.Errorf("check-config with a CRL of 3 days: exit %d\n%s", code, out)
	}

	foreign := mustInit(t, "Zones CA")
	foreignConfig := writeConfig(t, strings.NewReplacer(crlFile, foreign.CRLPath(), stateDir, t.TempDir()).Replace(configText))
	for _, args := range [][]string{{"check-config", "--config", foreignConfig}, {"--config", foreignConfig}} {
		out, code := runBinary(t, args...)
		if code != 1 || !strings.Contains(out, "client_crl_file: CRL "+foreign.CRLPath()+" (issuer CN=Zones CA) is not signed by a CA of the CA file") {
			t.Errorf("%v with another CA's CRL: exit %d\n%s", args, code, out)
		}
	}
}

func mustInit(t *testing.T, name string) *ca.CA {
	t.Helper()
	c, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
