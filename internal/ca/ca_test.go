package ca

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newCA(t *testing.T) *CA {
	t.Helper()
	c, err := Init(filepath.Join(t.TempDir(), "ca"), InitOptions{Name: "Zones Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func readCRL(t *testing.T, c *CA) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(c.CRLPath())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("crl.pem is not a PEM CRL:\n%s", data)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(c.Cert); err != nil {
		t.Fatalf("CRL not signed by the CA: %v", err)
	}
	return crl
}

func revokedSerials(crl *x509.RevocationList) []string {
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, SerialHex(e.SerialNumber))
	}
	slices.Sort(out)
	return out
}

func TestInit(t *testing.T) {
	c := newCA(t)
	if !c.Cert.IsCA || c.Cert.Subject.CommonName != "Zones Test CA" || c.Cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("CA certificate: IsCA %v, CN %q, key usage %v", c.Cert.IsCA, c.Cert.Subject.CommonName, c.Cert.KeyUsage)
	}
	if _, ok := c.key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("default CA key is %T, want ECDSA", c.key)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, KeyFile: 0o600, CertFile: 0o644, CRLFile: 0o644, IndexFile: 0o644} {
		if got := mode(t, filepath.Join(c.Dir, name)); got != want {
			t.Errorf("%s: mode %o, want %o", name, got, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(c.Dir, SerialFile)); string(got) != "01\n" {
		t.Errorf("serial file %q, want 01", got)
	}
	if crl := readCRL(t, c); len(crl.RevokedCertificateEntries) != 0 || crl.Number.Int64() != 1 || !crl.NextUpdate.After(time.Now().Add(29*24*time.Hour)) {
		t.Errorf("initial CRL: %d entries, number %v, next update %v", len(crl.RevokedCertificateEntries), crl.Number, crl.NextUpdate)
	}
	if _, err := Init(c.Dir, InitOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second init: %v, want ErrExists", err)
	}
	reopened, err := Open(c.Dir)
	if err != nil || !reopened.Cert.Equal(c.Cert) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ca init") {
		t.Errorf("Open of an empty folder: %v", err)
	}
}

func TestOpenRefusesAForeignKey(t *testing.T) {
	c, other := newCA(t), newCA(t)
	key, _ := os.ReadFile(filepath.Join(other.Dir, KeyFile))
	os.WriteFile(filepath.Join(c.Dir, KeyFile), key, 0o600)
	if _, err := Open(c.Dir); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("Open with another CA's key: %v", err)
	}
}

func TestIssue(t *testing.T) {
	c := newCA(t)
	out, err := c.Issue(IssueRequest{Name: "relay.dmz.example.com", SANs: []string{"relay,10.0.1.2", "::1", "Relay.DMZ.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	cert := out.Cert
	if cert.Subject.CommonName != "relay.dmz.example.com" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	if want := []string{"relay.dmz.example.com", "relay"}; !slices.Equal(cert.DNSNames, want) {
		t.Errorf("DNS SANs %v, want %v", cert.DNSNames, want)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.1.2")) || !cert.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs %v", cert.IPAddresses)
	}
	if cert.IsCA || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("IsCA %v, EKU %v", cert.IsCA, cert.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "relay.dmz.example.com", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for %v: %v", usage, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(out.CertFile, out.KeyFile); err != nil {
		t.Errorf("issued files are not a key pair: %v", err)
	}
	if out.CertFile != filepath.Join(c.Dir, IssuedDir, "relay.dmz.example.com.pem") || out.KeyFile != filepath.Join(c.Dir, IssuedDir, "relay.dmz.example.com-key.pem") {
		t.Errorf("files %s %s", out.CertFile, out.KeyFile)
	}
	if m := mode(t, out.KeyFile); m != 0o600 {
		t.Errorf("key mode %o, want 600", m)
	}
	if m := mode(t, out.CertFile); m != 0o644 {
		t.Errorf("certificate mode %o, want 644", m)
	}
	if copied, err := os.ReadFile(filepath.Join(c.Dir, CertsDir, "01.pem")); err != nil || !strings.Contains(string(copied), "CERTIFICATE") {
		t.Errorf("certs/01.pem: %v", err)
	}
	index, _ := os.ReadFile(filepath.Join(c.Dir, IndexFile))
	want := fmt.Sprintf("V\t%s\t\t01\tunknown\t/CN=relay.dmz.example.com\n", cert.NotAfter.UTC().Format("060102150405Z"))
	if string(index) != want {
		t.Errorf("index.txt\n%q, want\n%q", index, want)
	}
	if got, _ := os.ReadFile(filepath.Join(c.Dir, SerialFile)); string(got) != "02\n" {
		t.Errorf("serial file %q, want 02", got)
	}

	// One valid certificate per name unless forced.
	if _, err := c.Issue(IssueRequest{Name: "RELAY.dmz.example.com"}); err == nil || !strings.Contains(err.Error(), "already has a valid certificate (serial 01)") {
		t.Errorf("second issue: %v", err)
	}
	again, err := c.Issue(IssueRequest{Name: "relay.dmz.example.com", Force: true, OutDir: t.TempDir(), KeyType: RSA})
	if err != nil {
		t.Fatal(err)
	}
	if again.Cert.SerialNumber.Int64() != 2 {
		t.Errorf("forced issue got serial %v, want 2", again.Cert.SerialNumber)
	}
	if _, ok := again.Cert.PublicKey.(*rsa.PublicKey); !ok || again.Cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Errorf("RSA certificate: key %T, usage %v", again.Cert.PublicKey, again.Cert.KeyUsage)
	}
}

func TestIssueRefusesBadNames(t *testing.T) {
	c := newCA(t)
	for _, tc := range []struct {
		name string
		sans []string
		want string
	}{
		{"../etc/passwd", nil, "want a host name"},
		{"a b", nil, "want a host name"},
		{"", nil, "want a host name"},
		{"-x.example.com", nil, "want a host name"},
		{"ok.example.com", []string{"bad_name"}, `--san "bad_name" is neither`},
		{"ok.example.com", []string{"10.0.0.1,,*.wild"}, `--san "*.wild" is neither`},
	} {
		if _, err := c.Issue(IssueRequest{Name: tc.name, SANs: tc.sans}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Issue(%q, %q): %v, want %q", tc.name, tc.sans, err, tc.want)
		}
	}
	if entries, _ := c.Index(); len(entries) != 0 {
		t.Errorf("refused requests left %d index entries", len(entries))
	}
}

func TestIssueIsCappedAtTheCAsEnd(t *testing.T) {
	c, err := Init(t.TempDir(), InitOptions{Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Issue(IssueRequest{Name: "x.example.com", Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Cert.NotAfter.Equal(c.Cert.NotAfter) {
		t.Errorf("leaf ends %v, CA ends %v", out.Cert.NotAfter, c.Cert.NotAfter)
	}
}

func TestRevokeAndCRL(t *testing.T) {
	c := newCA(t)
	for _, name := range []string{"core.example.com", "dmz.example.com", "pfs.example.com"} {
		if _, err := c.Issue(IssueRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Issue(IssueRequest{Name: "pfs.example.com", Force: true}); err != nil { // serial 04
		t.Fatal(err)
	}
	// By name: every valid certificate of the name.
	revoked, err := c.Revoke("PFS.example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 2 || SerialHex(revoked[0].Serial) != "03" || SerialHex(revoked[1].Serial) != "04" {
		t.Errorf("revoked %+v", revoked)
	}
	crl := readCRL(t, c)
	if got := revokedSerials(crl); !slices.Equal(got, []string{"03", "04"}) {
		t.Errorf("CRL serials %v", got)
	}
	if crl.Number.Int64() != 2 {
		t.Errorf("CRL number %v, want 2 (init wrote 1)", crl.Number)
	}
	// By serial.
	if _, err := c.Revoke("1", time.Hour); err != nil {
		t.Fatal(err)
	}
	crl = readCRL(t, c)
	if got := revokedSerials(crl); !slices.Equal(got, []string{"01", "03", "04"}) {
		t.Errorf("CRL serials %v", got)
	}
	if d := time.Until(crl.NextUpdate); d > time.Hour || d < 59*time.Minute {
		t.Errorf("next update in %v, want an hour", d)
	}
	for arg, want := range map[string]string{
		"pfs.example.com":     "pfs.example.com has no valid certificate left (revoked: serial 03, 04)",
		"0x03":                "serial 03 (/CN=pfs.example.com) is already revoked",
		"0x99":                "no certificate with serial 99 in the index",
		"nobody.example.com":  "no certificate named nobody.example.com in the index",
		"abc":                 "no certificate named abc or with serial 0ABC in the index",
		"core.example.com/..": "no certificate named core.example.com/.. in the index",
	} {
		if _, err := c.Revoke(arg, 0); err == nil || err.Error() != want {
			t.Errorf("Revoke(%q): %v, want %q", arg, err, want)
		}
	}
	entries, err := c.Index()
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, e := range entries {
		statuses = append(statuses, string(e.Status)+SerialHex(e.Serial)+e.Name())
		if e.Status == Revoked && time.Since(e.RevokedAt) > time.Minute {
			t.Errorf("%s revoked at %v", SerialHex(e.Serial), e.RevokedAt)
		}
	}
	if want := []string{"R01core.example.com", "V02dmz.example.com", "R03pfs.example.com", "R04pfs.example.com"}; !slices.Equal(statuses, want) {
		t.Errorf("index %v, want %v", statuses, want)
	}
	// crl rewrites with the same entries and a higher number.
	again, err := c.CRL(0)
	if err != nil {
		t.Fatal(err)
	}
	if again.Number.Int64() != 4 || len(again.RevokedCertificateEntries) != 3 {
		t.Errorf("crl: number %v, %d entries", again.Number, len(again.RevokedCertificateEntries))
	}
}

// Goroutines exclude each other through the folder lock as processes do: every
// certificate gets its own serial and its index line.
func TestConcurrentIssue(t *testing.T) {
	c := newCA(t)
	const n = 12
	var wg sync.WaitGroup
	serials := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine opens the folder itself, as separate commands would.
			mine, err := Open(c.Dir)
			if err != nil {
				t.Error(err)
				return
			}
			out, err := mine.Issue(IssueRequest{Name: fmt.Sprintf("host%02d.example.com", i)})
			if err != nil {
				t.Error(err)
				return
			}
			serials <- SerialHex(out.Cert.SerialNumber)
		}()
	}
	wg.Wait()
	close(serials)
	seen := map[string]bool{}
	for s := range serials {
		if seen[s] {
			t.Errorf("serial %s issued twice", s)
		}
		seen[s] = true
	}
	entries, err := c.Index()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n || len(seen) != n {
		t.Fatalf("%d index entries, %d serials, want %d", len(entries), len(seen), n)
	}
	for _, e := range entries {
		if !seen[SerialHex(e.Serial)] {
			t.Errorf("index serial %s was not handed out", SerialHex(e.Serial))
		}
	}
	if next, _ := readCounter(filepath.Join(c.Dir, SerialFile)); next.Cmp(big.NewInt(n+1)) != 0 {
		t.Errorf("next serial %v, want %d", next, n+1)
	}
}

func TestIndexLines(t *testing.T) {
	late := time.Date(2061, 3, 4, 5, 6, 7, 0, time.UTC)
	e := Entry{Status: Revoked, NotAfter: late, RevokedAt: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), Serial: big.NewInt(0xabc), Subject: "/CN=x"}
	line := e.line()
	if line != "R\t20610304050607Z\t270102030405Z\t0ABC\tunknown\t/CN=x\n" {
		t.Errorf("line %q", line)
	}
	back, err := parseIndexLine(strings.TrimSuffix(line, "\n"))
	if err != nil || !back.NotAfter.Equal(late) || back.Serial.Int64() != 0xabc || back.Name() != "x" {
		t.Errorf("parsed back %+v, %v", back, err)
	}
	// What openssl ca writes, a reason after the revocation time included.
	if _, err := parseIndexLine("R\t270102030405Z\t260101000000Z,keyCompromise\t1F\tunknown\t/C=DE/CN=y"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"V\tx\t\t01\tunknown\t/CN=x", "Q\t270102030405Z\t\t01\tunknown\t/CN=x", "V\t270102030405Z\t\tzz\tunknown\t/CN=x", "V only"} {
		if _, err := parseIndexLine(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, IndexFile), []byte(line+"garbage\n"), 0o644)
	if _, err := readIndex(filepath.Join(dir, IndexFile)); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad index: %v", err)
	}
}

// openssl, a second implementation, reads what we write: the CRL verifies against
// the CA, and a revoked certificate fails `openssl verify -crl_check`.
func TestOpenSSLReadsTheCA(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	c := newCA(t)
	good, _ := c.Issue(IssueRequest{Name: "good.example.com"})
	bad, _ := c.Issue(IssueRequest{Name: "bad.example.com"})
	if _, err := c.Revoke("bad.example.com", 0); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(c.Dir, CertFile)
	out, err := exec.Command("openssl", "crl", "-in", c.CRLPath(), "-CAfile", caFile, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Serial Number: 02") || strings.Contains(string(out), "Serial Number: 01") {
		t.Errorf("openssl crl: %v\n%s", err, out)
	}
	if out, err := exec.Command("openssl", "verify", "-crl_check", "-CRLfile", c.CRLPath(), "-CAfile", caFile, good.CertFile).CombinedOutput(); err != nil {
		t.Errorf("openssl verify of the good certificate: %v\n%s", err, out)
	}
	out, err = exec.Command("openssl", "verify", "-crl_check", "-CRLfile", c.CRLPath(), "-CAfile", caFile, bad.CertFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate revoked") {
		t.Errorf("openssl verify of the revoked certificate: %v\n%s", err, out)
	}
}
