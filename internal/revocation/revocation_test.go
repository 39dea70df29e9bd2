package revocation_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
	"github.com/smartproxy/smartproxy/internal/revocation"
)

type logged struct {
	mu    sync.Mutex
	lines []string
}

func (l *logged) Infof(format string, args ...any) { l.Warnf(format, args...) }

func (l *logged) Warnf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logged) has(part string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, part) {
			return true
		}
	}
	return false
}

func newCA(t *testing.T, name string) *ca.CA {
	t.Helper()
	c, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t *testing.T, c *ca.CA, name string) *ca.Issued {
	t.Helper()
	out, err := c.Issue(ca.IssueRequest{Name: name, SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func caFile(c *ca.CA) string { return filepath.Join(c.Dir, ca.CertFile) }

// copyFile replaces dst by src's content through a rename, as an admin's cp/scp
// of a new crl.pem over the old one usually does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFollowsTheFile(t *testing.T) {
	c := newCA(t, "Test CA")
	alice, bob := issue(t, c, "alice.example.com"), issue(t, c, "bob.example.com")
	// The listener's copy of the CRL, as on a proxy host.
	served := filepath.Join(t.TempDir(), "crl.pem")
	copyFile(t, c.CRLPath(), served)
	log := &logged{}
	list, err := revocation.Load(served, caFile(c), log)
	if err != nil {
		t.Fatal(err)
	}
	if !log.has("Loaded CRL " + served + ": 0 revoked certificate(s)") {
		t.Errorf("load not logged: %q", log.lines)
	}
	chain := func(i *ca.Issued) []*x509.Certificate { return []*x509.Certificate{i.Cert, c.Cert} }
	if err := list.Check(chain(alice)); err != nil {
		t.Fatalf("alice before any revocation: %v", err)
	}

	if _, err := c.Revoke("alice.example.com", 0); err != nil {
		t.Fatal(err)
	}
	copyFile(t, c.CRLPath(), served)
	if err := list.Check(chain(alice)); !errors.Is(err, revocation.ErrRevoked) || !strings.Contains(err.Error(), "serial 1, CN=alice.example.com") {
		t.Errorf("alice after revocation: %v", err)
	}
	if err := list.Check(chain(bob)); err != nil {
		t.Errorf("bob: %v", err)
	}

	// A CRL of another CA, garbage, or no file: the last good list stays in force.
	other := newCA(t, "Other CA")
	for _, replace := range []func(){
		func() { copyFile(t, other.CRLPath(), served) },
		func() { os.WriteFile(served, []byte("not a CRL"), 0o644) },
		func() { os.Remove(served) },
	} {
		replace()
		if err := list.Check(chain(alice)); !errors.Is(err, revocation.ErrRevoked) {
			t.Errorf("alice after a bad replacement: %v", err)
		}
	}
	if !log.has("is not signed by a CA of the CA file") || !log.has("holds no PEM \"X509 CRL\" block") || !log.has("no such file") {
		t.Errorf("bad replacements not logged: %q", log.lines)
	}
}

func TestLoadRefuses(t *testing.T) {
	c, other := newCA(t, "Test CA"), newCA(t, "Other CA")
	// Same CA name, other key: the signature decides, not the name.
	twin := newCA(t, "Test CA")
	for _, tc := range []struct {
		crl, ca, want string
	}{
		{other.CRLPath(), caFile(c), "is not signed by a CA of the CA file"},
		{twin.CRLPath(), caFile(c), "is not signed by a CA of the CA file"},
		{caFile(c), caFile(c), "holds no PEM \"X509 CRL\" block"},
		{filepath.Join(t.TempDir(), "none.pem"), caFile(c), "no such file"},
		{c.CRLPath(), c.CRLPath(), "holds no PEM certificate"},
	} {
		if _, err := revocation.Load(tc.crl, tc.ca, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s, %s): %v, want %q", tc.crl, tc.ca, err, tc.want)
		}
	}
}

// Over a real TLS connection: a revoked client is refused in the handshake, also when
// it resumes a session it got before the revocation (VerifyPeerCertificate would
// not run then; VerifyConnection does).
func TestHandshake(t *testing.T) {
	c, other := newCA(t, "Test CA"), newCA(t, "Other CA")
	server, client, stranger := issue(t, c, "server.example.com"), issue(t, c, "client.example.com"), issue(t, other, "client.example.com")
	list, err := revocation.Load(c.CRLPath(), caFile(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	serverCert, _ := tls.LoadX509KeyPair(server.CertFile, server.KeyFile)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
		VerifyConnection: list.VerifyConnection,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if conn.(*tls.Conn).Handshake() == nil {
					conn.Write([]byte("hello"))
				}
			}()
		}
	}()

	sessions := map[uint16]tls.ClientSessionCache{}
	dial := func(cert *ca.Issued, maxVersion uint16, sessions tls.ClientSessionCache) (resumed bool, err error) {
		conf := &tls.Config{RootCAs: pool, ServerName: "server.example.com", ClientSessionCache: sessions, MaxVersion: maxVersion}
		pair, _ := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
		conn, err := tls.Dial("tcp", ln.Addr().String(), conf)
		if err != nil {
			return false, err
		}
		defer conn.Close()
		// TLS 1.3: the client learns of a refused certificate at its first read.
		if _, err := io.ReadAll(conn); err != nil {
			return false, err
		}
		return conn.ConnectionState().DidResume, nil
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			sessions[version] = tls.NewLRUClientSessionCache(4)
			if _, err := dial(client, version, sessions[version]); err != nil {
				t.Fatalf("valid client refused: %v", err)
			}
			if resumed, err := dial(client, version, sessions[version]); err != nil || !resumed {
				t.Fatalf("second connection: resumed %v, %v (the test needs resumption)", resumed, err)
			}
			if _, err := dial(stranger, version, nil); err == nil {
				t.Error("a certificate of another CA was accepted")
			}
		})
	}
	if _, err := c.Revoke("client.example.com", 0); err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if _, err := dial(client, version, sessions[version]); err == nil || !strings.Contains(err.Error(), "bad certificate") {
			t.Errorf("%s: revoked client with a resumable session: %v, want a bad certificate alert", tls.VersionName(version), err)
		}
	}
	if _, err := dial(client, 0, nil); err == nil {
		t.Error("revoked client accepted on a fresh session")
	}
}

func TestStaleWarning(t *testing.T) {
	now := time.Date(2027, 5, 10, 12, 0, 0, 0, time.UTC)
	for next, want := range map[time.Time]string{
		now.Add(30 * 24 * time.Hour): "",
		now.Add(3 * 24 * time.Hour):  "ssl_crl_file /x/crl.pem must be rewritten before 2027-05-13, in 3 days (`smart-proxy ca crl`)",
		now.Add(-time.Hour):          "ssl_crl_file /x/crl.pem is stale since 2027-05-10 (still enforced): rewrite it with `smart-proxy ca crl` and copy it here",
	} {
		if got := revocation.StaleWarning("ssl_crl_file", "/x/crl.pem", next, now); got != want {
			t.Errorf("next update %v: %q, want %q", next, got, want)
		}
	}
}
