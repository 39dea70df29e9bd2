// Package revocation makes a TLS listener refuse revoked client certificates: it
// loads a CRL file, accepts it only when signed by a CA the listener trusts, and
// re-reads it when the file changes (checked at each handshake: a stat, no timer and
// no signal), so a `smart-proxy ca revoke` takes effect on the next connection.
package revocation

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// List is a CRL file kept current.
type List struct {
	path string
	cas  []*x509.Certificate
	log  Logger

	current atomic.Pointer[loaded]
	reload  sync.Mutex // one reader of the file at a time
	// seen is the stamp of the file last read, good or bad: a bad file is reported
	// once, not at every handshake, and the last good list stays in force.
	seen atomic.Pointer[stamp]
}

// loaded is one good read of the file.
type loaded struct {
	revoked    map[string]map[string]bool // issuer's raw subject -> serial (decimal) -> revoked
	count      int
	nextUpdate time.Time
}

// stamp tells a changed file: a rename gives a new inode, an in-place write a new
// size or time.
type stamp struct {
	info os.FileInfo // nil: the file was missing
}

func (s *stamp) same(info os.FileInfo) bool {
	if s.info == nil || info == nil {
		return s.info == nil && info == nil
	}
	return os.SameFile(s.info, info) && s.info.Size() == info.Size() && s.info.ModTime().Equal(info.ModTime())
}

// Logger hears reloads (Infof), and bad or stale CRLs and refused certificates
// (Warnf). A logrus logger is one.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
}

type silent struct{}

func (silent) Infof(string, ...any) {}
func (silent) Warnf(string, ...any) {}

// Load reads crlFile (one or more PEM "X509 CRL" blocks), each of which must be
// signed by a certificate of caFile. log may be nil.
func Load(crlFile, caFile string, log Logger) (*List, error) {
	if log == nil {
		log = silent{}
	}
	cas, err := readCerts(caFile)
	if err != nil {
		return nil, err
	}
	l := &List{path: crlFile, cas: cas, log: log}
	info, err := os.Stat(crlFile)
	if err != nil {
		return nil, fmt.Errorf("reading the CRL: %w", err)
	}
	got, err := l.read()
	if err != nil {
		return nil, err
	}
	l.current.Store(got)
	l.seen.Store(&stamp{info})
	l.report(got)
	return l, nil
}

func readCerts(caFile string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the CA file for the CRL: %w", err)
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, cert)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return out, nil
}

// read parses and verifies the file.
func (l *List) read() (*loaded, error) {
	data, err := os.ReadFile(l.path)
	if err != nil {
		return nil, fmt.Errorf("reading the CRL: %w", err)
	}
	got := &loaded{revoked: map[string]map[string]bool{}}
	blocks := 0
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			continue
		}
		blocks++
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %w", l.path, err)
		}
		issuer, err := l.issuerOf(crl)
		if err != nil {
			return nil, err
		}
		serials := got.revoked[string(issuer.RawSubject)]
		if serials == nil {
			serials = map[string]bool{}
			got.revoked[string(issuer.RawSubject)] = serials
		}
		for _, e := range crl.RevokedCertificateEntries {
			serials[e.SerialNumber.String()] = true
			got.count++
		}
		if got.nextUpdate.IsZero() || crl.NextUpdate.Before(got.nextUpdate) {
			got.nextUpdate = crl.NextUpdate
		}
	}
	if blocks == 0 {
		return nil, fmt.Errorf("CRL %s holds no PEM \"X509 CRL\" block", l.path)
	}
	return got, nil
}

// issuerOf is the trusted CA that signed crl; a CRL anyone else signed would let
// them unrevoke certificates, so it is refused.
func (l *List) issuerOf(crl *x509.RevocationList) (*x509.Certificate, error) {
	for _, ca := range l.cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			return ca, nil
		}
	}
	return nil, fmt.Errorf("CRL %s (issuer %s) is not signed by a CA of the CA file", l.path, crl.Issuer)
}

func (l *List) report(got *loaded) {
	l.log.Infof("Loaded CRL %s: %d revoked certificate(s), next update %s", l.path, got.count, got.nextUpdate.UTC().Format(time.RFC3339))
	if !got.nextUpdate.IsZero() && time.Now().After(got.nextUpdate) {
		l.log.Warnf("CRL %s is stale (next update was %s): still enforced; rewrite it with `smart-proxy ca crl`", l.path, got.nextUpdate.UTC().Format(time.RFC3339))
	}
}

// refresh re-reads the file if it changed since last seen. A file that is now
// missing, unreadable, not signed by the CA or not a CRL is reported once and the
// last good list stays in force: revocations are never dropped by a bad copy.
func (l *List) refresh() {
	info, _ := os.Stat(l.path)
	if l.seen.Load().same(info) {
		return
	}
	l.reload.Lock()
	defer l.reload.Unlock()
	info, _ = os.Stat(l.path)
	if l.seen.Load().same(info) {
		return // another handshake reloaded it
	}
	l.seen.Store(&stamp{info})
	got, err := l.read()
	if err != nil {
		l.log.Warnf("Keeping the previous CRL: %v", err)
		return
	}
	l.current.Store(got)
	l.report(got)
}

// NextUpdate is the earliest nextUpdate of the CRLs in force: after it they are stale
// (still enforced) and should have been rewritten.
func (l *List) NextUpdate() time.Time { return l.current.Load().nextUpdate }

// ErrRevoked is the handshake error for a revoked certificate.
var ErrRevoked = errors.New("certificate revoked")

// Check reports whether a certificate of chain is revoked by the CRL of its issuer.
func (l *List) Check(chain []*x509.Certificate) error {
	l.refresh()
	cur := l.current.Load()
	for _, cert := range chain {
		if cur.revoked[string(cert.RawIssuer)][cert.SerialNumber.String()] {
			return fmt.Errorf("%w: serial %s, CN=%s", ErrRevoked, serialHex(cert.SerialNumber), cert.Subject.CommonName)
		}
	}
	return nil
}

// VerifyConnection is for tls.Config.VerifyConnection: it runs on every handshake,
// resumed sessions included (VerifyPeerCertificate does not), and refuses a revoked
// peer certificate. A peer without a certificate passes: the routes decide.
func (l *List) VerifyConnection(cs tls.ConnectionState) error {
	chains := cs.VerifiedChains
	if len(chains) == 0 && len(cs.PeerCertificates) > 0 {
		chains = [][]*x509.Certificate{cs.PeerCertificates}
	}
	for _, chain := range chains {
		if err := l.Check(chain); err != nil {
			l.log.Warnf("Refused a TLS client: %v", err)
			return err
		}
	}
	return nil
}

func serialHex(n *big.Int) string { return fmt.Sprintf("%X", n) }

// StaleWarning is what check-config prints about a CRL that is stale or becomes so
// within a week ("" when neither), so cron's failure to rewrite it is seen in time.
func StaleWarning(setting, path string, next, now time.Time) string {
	switch left := next.Sub(now); {
	case left <= 0:
		return fmt.Sprintf("%s %s is stale since %s (still enforced): rewrite it with `smart-proxy ca crl` and copy it here", setting, path, next.UTC().Format(time.DateOnly))
	case left < 7*24*time.Hour:
		return fmt.Sprintf("%s %s must be rewritten before %s, in %d days (`smart-proxy ca crl`)", setting, path, next.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	return ""
}
