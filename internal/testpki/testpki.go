// Package testpki is the one throwaway PKI for tests: a CA written to a temp dir and
// the certificates it signs, as files (for settings that name them) and in memory
// (for Go clients and servers). It is a normal package so that tests in several
// packages can share it; nothing outside tests imports it.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose files live in Dir.
type CA struct {
	Dir    string
	CAFile string // PEM certificate of the CA, Dir/ca.pem
	Pool   *x509.CertPool

	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Spec says what to put in an issued certificate. DNSNames and IPs go in as given,
// nil included, so tests can make a certificate with no SAN at all. An empty Usage
// means both server and client auth.
type Spec struct {
	CN       string
	DNSNames []string
	IPs      []net.IP
	Usage    []x509.ExtKeyUsage
	// RSA gives the certificate an RSA 2048 key instead of ECDSA P-256, for tests of
	// the ECDHE-RSA and RSA key exchange suites.
	RSA bool
}

// Cert is an issued certificate: its files <cn>.pem and <cn>-key.pem under the
// CA's Dir, the same as PEM, and the pair ready for a tls.Config.
type Cert struct {
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	TLS               tls.Certificate
}

// NewCA makes a CA with common name name in a fresh temp dir, so CAs of one test
// never share files.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("creating CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The file name does not come from name: CA names have spaces and colons.
	ca := &CA{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), Pool: x509.NewCertPool(), cert: cert, key: key}
	ca.Pool.AddCert(cert)
	writeFile(t, ca.CAFile, pemBlock("CERTIFICATE", der))
	return ca
}

// Issue signs a certificate as spec says and writes it with its key under ca.Dir.
func (ca *CA) Issue(t testing.TB, spec Spec) Cert {
	t.Helper()
	usage := spec.Usage
	if len(usage) == 0 {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	var key crypto.Signer = newKey(t)
	keyUsage := x509.KeyUsageDigitalSignature
	if spec.RSA {
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key, keyUsage = rsaKey, keyUsage|x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: spec.CN},
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     keyUsage,
		ExtKeyUsage:  usage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("issuing %s: %v", spec.CN, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := Cert{
		CertFile: filepath.Join(ca.Dir, spec.CN+".pem"),
		KeyFile:  filepath.Join(ca.Dir, spec.CN+"-key.pem"),
		CertPEM:  pemBlock("CERTIFICATE", der),
		KeyPEM:   pemBlock("PRIVATE KEY", keyDER),
	}
	if c.CertFile == ca.CAFile {
		t.Fatalf("testpki: a certificate for %q would overwrite the CA file", spec.CN)
	}
	writeFile(t, c.CertFile, c.CertPEM)
	writeFile(t, c.KeyFile, c.KeyPEM)
	if c.TLS, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		t.Fatal(err)
	}
	return c
}

// IssueLoopback is the common case: cn as CN and DNS name, 127.0.0.1 as IP, good
// for both ends of a TLS connection over loopback.
func (ca *CA) IssueLoopback(t testing.TB, cn string) Cert {
	t.Helper()
	return ca.Issue(t, Spec{CN: cn, DNSNames: []string{cn}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// serial is random so that certificates of different CAs in one test never collide.
func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
