package ca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// CRL rewrites crl.pem from the index, valid for validity (DefaultCRLValidity when 0),
// and returns it. Servers that load it refuse the revoked certificates; after its
// NextUpdate they log that it is stale, so it must be rewritten before (cron).
func (c *CA) CRL(validity time.Duration) (*x509.RevocationList, error) {
	unlock, err := lock(c.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return c.writeCRL(validity)
}

// CRLPath is where CRL writes.
func (c *CA) CRLPath() string { return c.path(CRLFile) }

// writeCRL signs a CRL of every revoked entry; the caller holds the lock. Its number
// comes from crlnumber, increased each time, as RFC 5280 asks.
func (c *CA) writeCRL(validity time.Duration) (*x509.RevocationList, error) {
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	index, err := c.Index()
	if err != nil {
		return nil, err
	}
	number, err := readCounter(c.path(CRLNumberFile))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.RevocationList{Number: number, ThisUpdate: now, NextUpdate: now.Add(validity)}
	for _, e := range index {
		if e.Status == Revoked {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
				x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.RevokedAt})
		}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, c.Cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("signing the CRL: %w", err)
	}
	if err := writeCounter(c.path(CRLNumberFile), new(big.Int).Add(number, big.NewInt(1))); err != nil {
		return nil, err
	}
	if err := durable.WriteFile(c.path(CRLFile), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return x509.ParseRevocationList(der)
}

// ReadCRL returns the CRL crl.pem holds now.
func (c *CA) ReadCRL() (*x509.RevocationList, error) {
	data, err := os.ReadFile(c.CRLPath())
	if err != nil {
		return nil, fmt.Errorf("reading the CRL: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		return nil, fmt.Errorf("%s holds no PEM CRL", c.CRLPath())
	}
	return x509.ParseRevocationList(block.Bytes)
}
