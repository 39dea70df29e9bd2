// Package ca is the one certificate authority of a zoned installation: it keeps a CA
// folder (key, certificate, serial, index, CRL) and issues the server-and-client
// certificates that foreman-core, relays and proxies present to each other. Every
// change is made under an exclusive lock of the folder and written crash-safe, so two
// admins (or two scripts) issuing at once get distinct serials and a whole index.
package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// The CA folder's files. The layout follows openssl ca (serial, index.txt,
// crlnumber, certs/ as its newcerts/) so the folder can be inspected with openssl.
const (
	CertFile      = "ca.pem"
	KeyFile       = "ca-key.pem"
	SerialFile    = "serial"
	IndexFile     = "index.txt"
	CRLNumberFile = "crlnumber"
	CRLFile       = "crl.pem"
	CertsDir      = "certs"  // a copy of every issued certificate, SERIAL.pem
	IssuedDir     = "issued" // default place of NAME.pem and NAME-key.pem
	lockFile      = ".lock"
)

// Defaults of the command line.
const (
	DefaultDir         = "/etc/smartproxy/ca"
	DefaultCAValidity  = 10 * 365 * 24 * time.Hour
	DefaultValidity    = 2 * 365 * 24 * time.Hour
	DefaultCRLValidity = 30 * 24 * time.Hour
)

// KeyType is the algorithm of a new key.
type KeyType string

const (
	ECDSA KeyType = "ecdsa" // P-256, the default
	RSA   KeyType = "rsa"   // 3072 bits, for peers without ECDSA
)

// ParseKeyType reads a --key-type value.
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case ECDSA, RSA:
		return KeyType(s), nil
	}
	return "", fmt.Errorf("unknown key type %q: want ecdsa or rsa", s)
}

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSA, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("unknown key type %q: want ecdsa or rsa", t)
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// CA is an opened CA folder.
type CA struct {
	Dir  string
	Cert *x509.Certificate
	key  crypto.Signer
}

func (c *CA) path(name string) string { return filepath.Join(c.Dir, name) }

// InitOptions say what CA to create.
type InitOptions struct {
	Name        string // the CA's common name
	KeyType     KeyType
	Validity    time.Duration
	CRLValidity time.Duration
}

// ErrExists is returned by Init when dir already holds a CA.
var ErrExists = errors.New("a CA already exists")

// Init creates a CA in dir (made 0700 if absent): its key (0600) and self-signed
// certificate, serial 01, an empty index and an empty CRL. ca.pem is written last, so
// an Init interrupted by a crash leaves no CA and can simply be run again.
func Init(dir string, opts InitOptions) (*CA, error) {
	if opts.Name == "" {
		opts.Name = "Smart Proxy CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultCAValidity
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the CA folder: %w", err)
	}
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, CertFile)); err == nil {
		return nil, fmt.Errorf("%w in %s (%s is there)", ErrExists, dir, CertFile)
	}
	key, err := newKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: opts.Name},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &CA{Dir: dir, Cert: cert, key: key}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.path(CertsDir), 0o700); err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return durable.WriteFile(c.path(KeyFile), kp, 0o600) },
		func() error { return writeCounter(c.path(SerialFile), big.NewInt(1)) },
		func() error { return durable.WriteFile(c.path(IndexFile), nil, 0o644) },
		func() error { return writeCounter(c.path(CRLNumberFile), big.NewInt(1)) },
		func() error { _, err := c.writeCRL(opts.CRLValidity); return err },
		func() error { return durable.WriteFile(c.path(CertFile), certPEM(der), 0o644) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Open reads the CA of dir and checks that its key belongs to its certificate.
func Open(dir string) (*CA, error) {
	certData, err := os.ReadFile(filepath.Join(dir, CertFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no CA in %s (%s is missing): run `smart-proxy ca init --dir %s` first", dir, CertFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	block, _ := pem.Decode(certData)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", filepath.Join(dir, CertFile))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, CertFile), err)
	}
	keyData, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("reading the CA key: %w", err)
	}
	block, _ = pem.Decode(keyData)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", filepath.Join(dir, KeyFile))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, KeyFile), err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T", filepath.Join(dir, KeyFile), parsed)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to %s", filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile))
	}
	return &CA{Dir: dir, Cert: cert, key: key}, nil
}

// lock takes the folder's exclusive lock; it is released by the returned func (and by
// the kernel if the process dies). flock locks are per open file, so goroutines of one
// process exclude each other too.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the CA folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the CA folder: %w", err)
	}
	return func() { f.Close() }, nil
}

// Index returns every certificate the CA has issued, in issue order.
func (c *CA) Index() ([]Entry, error) { return readIndex(c.path(IndexFile)) }
