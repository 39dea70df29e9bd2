package testpki_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

func TestIssue(t *testing.T) {
	ca := testpki.NewCA(t, "Test CA: with spaces")
	if _, err := os.Stat(ca.CAFile); err != nil {
		t.Fatal(err)
	}

	bare := ca.Issue(t, testpki.Spec{CN: "bare.test", Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if bare.CertFile != filepath.Join(ca.Dir, "bare.test.pem") || bare.KeyFile != filepath.Join(ca.Dir, "bare.test-key.pem") {
		t.Errorf("files %s %s", bare.CertFile, bare.KeyFile)
	}
	leaf := bare.TLS.Leaf
	if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 {
		t.Errorf("SANs %v %v, want none", leaf.DNSNames, leaf.IPAddresses)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client-only certificate verifies for server auth")
	}

	lo := ca.IssueLoopback(t, "lo.test")
	for _, name := range []string{"lo.test", "127.0.0.1"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			opts := x509.VerifyOptions{DNSName: name, Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{usage}}
			if _, err := lo.TLS.Leaf.Verify(opts); err != nil {
				t.Errorf("%s usage %v: %v", name, usage, err)
			}
		}
	}
}
