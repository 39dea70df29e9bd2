package puppetpeer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// issueProxyCertificate signs proxy.test (client and server use, SAN 127.0.0.1) with
// the Puppet CA's intermediate key, as `puppetserver ca generate` would, without the
// running server (whose autosign hook would refuse the request).
func (l *lab) issueProxyCertificate() error {
	return l.issueCertificate("proxy.test", l.proxyCert(), l.proxyKey())
}

// issueCertificate signs name the same way into certFile and keyFile.
func (l *lab) issueCertificate(name, certFile, keyFile string) error {
	caCerts, err := os.ReadFile(l.path("etc", "ca", "ca_crt.pem"))
	if err != nil {
		return err
	}
	block, _ := pem.Decode(caCerts)
	if block == nil {
		return errors.New("ca_crt.pem holds no certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(l.path("etc", "ca", "ca_key.pem"))
	if err != nil {
		return err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return errors.New("ca_key.pem holds no key")
	}
	var caKey any
	if caKey, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
		if caKey, err = x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
			return fmt.Errorf("ca_key.pem: %w", err)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("signing %s: %w", name, err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}
