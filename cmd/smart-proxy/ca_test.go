package main

// `smart-proxy ca` run as an admin would, and the certificates it makes used by the
// real proxy over real TLS: accepted, then refused once revoked and the CRL copied.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// caRun runs `smart-proxy ca ARGS...` and fails the test unless it exits with code.
func caRun(t *testing.T, code int, args ...string) string {
	t.Helper()
	out, got := runBinary(t, append([]string{"ca"}, args...)...)
	if got != code {
		t.Fatalf("smart-proxy ca %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, out)
	}
	return out
}

// mtlsClient presents certFile/keyFile to a server trusted through caFile, on a new
// connection each request (a revocation is checked at the handshake).
func mtlsClient(t *testing.T, caFile, certFile, keyFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestCACommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	out := caRun(t, 0, "init", "--dir", dir, "--name", "Zones CA")
	if !strings.Contains(out, `CA "Zones CA" created in `+dir) {
		t.Errorf("init output:\n%s", out)
	}
	caRun(t, 1, "init", "--dir", dir)
	out = caRun(t, 0, "issue", "proxy.example.com", "--dir", dir, "--san", "10.1.2.3,proxy", "--san", "::1")
	if !regexp.MustCompile(`issued serial 01 for CN=proxy.example.com \(SAN proxy.example.com, proxy, 10.1.2.3, ::1\), server and client use, valid until 20\d\d-`).MatchString(out) {
		t.Errorf("issue output:\n%s", out)
	}
	for file, mode := range map[string]os.FileMode{"ca-key.pem": 0o600, "issued/proxy.example.com-key.pem": 0o600, "issued/proxy.example.com.pem": 0o644} {
		info, err := os.Stat(filepath.Join(dir, file))
		if err != nil || info.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %o", file, err, info.Mode().Perm(), mode)
		}
	}
	if out := caRun(t, 1, "issue", "../evil", "--dir", dir); !strings.Contains(out, `certificate name "../evil": want a host name`) {
		t.Errorf("bad name:\n%s", out)
	}
	if out := caRun(t, 1, "issue", "proxy.example.com", "--dir", dir); !strings.Contains(out, "already has a valid certificate (serial 01)") {
		t.Errorf("second issue:\n%s", out)
	}
	caRun(t, 2, "issue", "--dir", dir)
	caRun(t, 2, "issue", "a.example.com", "--key-type", "dsa", "--dir", dir)
	caRun(t, 2, "frobnicate")
	if out := caRun(t, 1, "issue", "x.example.com", "--dir", t.TempDir()); !strings.Contains(out, "run `smart-proxy ca init --dir") {
		t.Errorf("issue without a CA:\n%s", out)
	}
	out = caRun(t, 0, "revoke", "proxy.example.com", "--dir", dir, "--crl-days", "7")
	if !strings.Contains(out, "revoked serial 01 (/CN=proxy.example.com)") || !strings.Contains(out, "wrote "+filepath.Join(dir, "crl.pem")+": 1 revoked, number 2, next update") {
		t.Errorf("revoke output:\n%s", out)
	}
	if out := caRun(t, 1, "revoke", "proxy.example.com", "--dir", dir); !strings.Contains(out, "proxy.example.com has no valid certificate left (revoked: serial 01)") {
		t.Errorf("second revoke:\n%s", out)
	}
	if out := caRun(t, 0, "list", "--dir", dir); !regexp.MustCompile(`(?m)^01\s+proxy.example.com\s+until \S+ \S+ UTC\s+revoked `).MatchString(out) {
		t.Errorf("list output:\n%s", out)
	}
	if out := caRun(t, 0, "crl", "--dir", dir); !strings.Contains(out, "1 revoked, number 3") {
		t.Errorf("crl output:\n%s", out)
	}
}

// The admin's way, end to end on the real proxy: certificates from `ca issue`, the
// CRL copied in place over ssl_crl_file while the proxy runs.
func TestHTTPSRefusesRevokedCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	caRun(t, 0, "init", "--dir", dir)
	caRun(t, 0, "issue", "localhost", "--san", "127.0.0.1", "--dir", dir)
	caRun(t, 0, "issue", "foreman.example.com", "--dir", dir)
	caRun(t, 0, "issue", "relay.example.com", "--dir", dir, "--key-type", "rsa")
	caFile, issued := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "issued")
	served := filepath.Join(t.TempDir(), "crl.pem") // the proxy's copy
	copyCRL := func() {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(served, data, 0o644); err != nil { // in place, as cp does
			t.Fatal(err)
		}
	}
	copyCRL()

	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	p := &pki{ca: &testpki.CA{CAFile: caFile, Pool: pool},
		server: testpki.Cert{CertFile: filepath.Join(issued, "localhost.pem"), KeyFile: filepath.Join(issued, "localhost-key.pem")}}
	px := startProxy(t, p, ":ssl_crl_file: "+served+"\n", map[string]string{"logs.yml": ":enabled: https\n"})
	if !strings.Contains(px.out.String(), "Loaded CRL "+served+": 0 revoked certificate(s)") {
		t.Errorf("no CRL load in the log:\n%s", px.out.String())
	}

	client := func(name string) *http.Client {
		return mtlsClient(t, caFile, filepath.Join(issued, name+".pem"), filepath.Join(issued, name+"-key.pem"))
	}
	foreman, relay := client("foreman.example.com"), client("relay.example.com")
	for name, c := range map[string]*http.Client{"foreman": foreman, "relay (RSA)": relay} {
		if r := get(t, c, px.httpsURL+"/v2/features"); r.status != 200 {
			t.Errorf("%s before revocation: %d %s", name, r.status, r.body)
		}
	}
	// A certificate with the same name from another CA: refused in the handshake.
	other := testpki.NewCA(t, "Smart Proxy CA").Issue(t, testpki.Spec{CN: "foreman.example.com", DNSNames: []string{"foreman.example.com"}})
	if _, err := mtlsClient(t, caFile, other.CertFile, other.KeyFile).Get(px.httpsURL + "/v2/features"); err == nil {
		t.Error("a certificate of another CA was accepted")
	}

	caRun(t, 0, "revoke", "foreman.example.com", "--dir", dir)
	caRun(t, 0, "crl", "--dir", dir)
	// Before the copy the proxy does not know yet.
	if r := get(t, foreman, px.httpsURL+"/v2/features"); r.status != 200 {
		t.Errorf("before the CRL reached the proxy: %d", r.status)
	}
	copyCRL()
	if _, err := foreman.Get(px.httpsURL + "/v2/features"); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Errorf("revoked certificate: %v, want a bad certificate alert", err)
	}
	if r := get(t, relay, px.httpsURL+"/v2/features"); r.status != 200 {
		t.Errorf("a valid certificate after the revocation of another: %d %s", r.status, r.body)
	}
	log := px.out.String()
	if !strings.Contains(log, "Loaded CRL "+served+": 1 revoked certificate(s)") || !strings.Contains(log, "Refused a TLS client: certificate revoked: serial 2, CN=foreman.example.com") {
		t.Errorf("reload or refusal not in the log:\n%s", log)
	}

	// check-config warns of a CRL about to go stale.
	caRun(t, 0, "crl", "--dir", dir, "--crl-days", "3")
	copyCRL()
	path, _, _ := writeSettings(t, p, ":ssl_crl_file: "+served+"\n", nil)
	if out, code := runBinary(t, "check-config", "--settings", path); code != 0 ||
		!regexp.MustCompile(`(?m)^warning: https: ssl_crl_file `+regexp.QuoteMeta(served)+` must be rewritten before \d{4}-\d\d-\d\d, in 2 days`).MatchString(out) {
		t.Errorf("check-config with a CRL of 3 days: exit %d\n%s", code, out)
	}

	// A CRL not signed by the CA: check-config and the start refuse it.
	foreign := filepath.Join(t.TempDir(), "ca")
	caRun(t, 0, "init", "--dir", foreign, "--name", "Smart Proxy CA")
	path, _, _ = writeSettings(t, p, ":ssl_crl_file: "+filepath.Join(foreign, "crl.pem")+"\n", nil)
	out, code := runBinary(t, "check-config", "--settings", path)
	if code != 1 || !strings.Contains(out, "error: https: ssl_crl_file: CRL "+filepath.Join(foreign, "crl.pem")+" (issuer CN=Smart Proxy CA) is not signed by a CA of the CA file") {
		t.Errorf("check-config with a foreign CRL: exit %d\n%s", code, out)
	}
	out, code = runBinary(t, "--settings", path)
	if code != 1 || !strings.Contains(out, "is not signed by a CA of the CA file") {
		t.Errorf("start with a foreign CRL: exit %d\n%s", code, out)
	}
}

// `ca issue` processes killed with SIGKILL at random moments, with others running
// alongside: the folder stays consistent. The index parses, every certificate file
// written is in the index under its serial, no serial is in it twice, and the serial
// file is past every serial handed out.
func TestCAIssueSurvivesKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	caRun(t, 0, "init", "--dir", dir)
	var wg sync.WaitGroup
	for round := range 6 {
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(binary, "ca", "issue", fmt.Sprintf("host-%d-%d.example.com", round, i), "--dir", dir)
				if err := cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 { // half are killed somewhere between start and finish
					time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
				}
				cmd.Wait()
			}()
		}
		wg.Wait()
	}
	authority, err := ca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	index, err := authority.Index()
	if err != nil {
		t.Fatalf("index after kill -9: %v", err)
	}
	inIndex := map[string]string{}
	for _, e := range index {
		s := ca.SerialHex(e.Serial)
		if _, dup := inIndex[s]; dup {
			t.Errorf("serial %s twice in the index", s)
		}
		inIndex[s] = e.Name()
	}
	nextText, _ := os.ReadFile(filepath.Join(dir, "serial"))
	next, ok := new(big.Int).SetString(strings.TrimSpace(string(nextText)), 16)
	if !ok {
		t.Fatalf("serial file holds %q", nextText)
	}
	for _, e := range index {
		if e.Serial.Cmp(next) >= 0 {
			t.Errorf("serial %s in the index, but the serial file says next is %s", ca.SerialHex(e.Serial), ca.SerialHex(next))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "issued", "*.example.com.pem"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		block, _ := pem.Decode(data)
		if block == nil {
			t.Errorf("%s is not whole", f)
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if name, ok := inIndex[ca.SerialHex(cert.SerialNumber)]; !ok || name != cert.Subject.CommonName {
			t.Errorf("%s (serial %s) is not in the index (index has %q)", f, ca.SerialHex(cert.SerialNumber), name)
		}
	}
	if len(files) < 12 {
		t.Errorf("%d certificates written, want at least the 12 issues that were not killed", len(files))
	}
	t.Logf("%d index entries, %d certificate files, next serial %s", len(index), len(files), ca.SerialHex(next))
	caRun(t, 0, "list", "--dir", dir)
}
