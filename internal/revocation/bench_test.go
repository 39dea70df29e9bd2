package revocation_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/smartproxy/smartproxy/internal/ca"
	"github.com/smartproxy/smartproxy/internal/revocation"
)

// BenchmarkVerifyConnection is the cost added to each handshake: a stat of the CRL
// file and a map lookup, with 1,000 revoked serials in the CRL.
func BenchmarkVerifyConnection(b *testing.B) {
	c, err := ca.Init(b.TempDir(), ca.InitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	valid, err := c.Issue(ca.IssueRequest{Name: "valid.example.com"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := c.Issue(ca.IssueRequest{Name: fmt.Sprintf("gone%04d.example.com", i)}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Revoke(fmt.Sprintf("gone%04d.example.com", i), 0); err != nil {
			b.Fatal(err)
		}
	}
	list, err := revocation.Load(c.CRLPath(), caFile(c), nil)
	if err != nil {
		b.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{valid.Cert}, VerifiedChains: [][]*x509.Certificate{{valid.Cert, c.Cert}}}
	b.ResetTimer()
	for b.Loop() {
		if err := list.VerifyConnection(cs); err != nil {
			b.Fatal(err)
		}
	}
}
