package ca

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// IssueRequest says what certificate to issue.
type IssueRequest struct {
	// Name is the certificate's CN, its first SAN, and the base of its file names.
	Name string
	// SANs are more DNS names and IP addresses.
	SANs     []string
	KeyType  KeyType
	Validity time.Duration // capped at the CA's own end
	// OutDir receives NAME.pem and NAME-key.pem ("" = the CA folder's issued/).
	OutDir string
	// Force issues even though NAME has a valid certificate (which stays valid until revoked).
	Force bool
}

// Issued is a new certificate and where it was written.
type Issued struct {
	Cert              *x509.Certificate
	CertFile, KeyFile string
}

// Issue creates a key and a certificate for req.Name usable as a TLS server and as a
// TLS client (serverAuth and clientAuth), signed by the CA. Under the folder lock it
// takes the next serial and records the certificate in the index before writing the
// files, so a crash can leave a serial unused but never a certificate the index (and
// so revoke) does not know.
func (c *CA) Issue(req IssueRequest) (*Issued, error) {
	if err := checkName(req.Name); err != nil {
		return nil, err
	}
	dnsNames, ips, err := subjectAltNames(req.Name, req.SANs)
	if err != nil {
		return nil, err
	}
	if req.Validity <= 0 {
		req.Validity = DefaultValidity
	}
	outDir := req.OutDir
	if outDir == "" {
		outDir = c.path(IssuedDir)
	}
	key, err := newKey(req.KeyType)
	if err != nil {
		return nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}

	unlock, err := lock(c.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	index, err := c.Index()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !req.Force {
		for _, e := range index {
			if e.Status == Valid && now.Before(e.NotAfter) && strings.EqualFold(e.Name(), req.Name) {
				return nil, fmt.Errorf("%s already has a valid certificate (serial %s): revoke it first, or use --force to issue another", req.Name, SerialHex(e.Serial))
			}
		}
	}
	serial, err := readCounter(c.path(SerialFile))
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment // TLS 1.2 RSA key exchange peers
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Name},
		NotBefore:             now.Add(-5 * time.Minute), // tolerate peers' clock skew
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.key)
	if err != nil {
		return nil, fmt.Errorf("signing the certificate of %s: %w", req.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeCounter(c.path(SerialFile), new(big.Int).Add(serial, big.NewInt(1))); err != nil {
		return nil, err
	}
	index = append(index, Entry{Status: Valid, NotAfter: cert.NotAfter, Serial: serial, Subject: "/CN=" + req.Name})
	if err := durable.WriteFile(c.path(IndexFile), formatIndex(index), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.path(CertsDir), 0o700); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(filepath.Join(c.path(CertsDir), SerialHex(serial)+".pem"), certPEM(der), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", outDir, err)
	}
	out := &Issued{Cert: cert, CertFile: filepath.Join(outDir, req.Name+".pem"), KeyFile: filepath.Join(outDir, req.Name+"-key.pem")}
	if err := durable.WriteFile(out.KeyFile, kp, 0o600); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(out.CertFile, certPEM(der), 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// checkName accepts a DNS name (or an IP address): it becomes a SAN and file names,
// so nothing that could leave the output folder or confuse a TLS peer.
func checkName(name string) error {
	if net.ParseIP(name) != nil {
		return nil
	}
	if !validDNSName(name) {
		return fmt.Errorf("certificate name %q: want a host name such as proxy.example.com (letters, digits, '-' and '.')", name)
	}
	return nil
}

func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// subjectAltNames returns the name and each --san value (several may be given in one,
// comma-separated) sorted into DNS names and IP addresses, without duplicates.
func subjectAltNames(name string, sans []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	add := func(v string) error {
		if ip := net.ParseIP(v); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			return nil
		}
		if !validDNSName(v) {
			return fmt.Errorf("--san %q is neither an IP address nor a DNS name", v)
		}
		v = strings.ToLower(v)
		if !slices.Contains(dnsNames, v) {
			dnsNames = append(dnsNames, v)
		}
		return nil
	}
	if err := add(name); err != nil {
		return nil, nil, err
	}
	for _, s := range sans {
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if err := add(v); err != nil {
				return nil, nil, err
			}
		}
	}
	return dnsNames, ips, nil
}
