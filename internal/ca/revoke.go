package ca

import (
	"fmt"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// Revoke marks as revoked every valid certificate named nameOrSerial or, when no
// certificate has that name, the one with that serial (hex; a 0x prefix forces the
// serial reading), then rewrites the CRL. It returns the entries it revoked.
func (c *CA) Revoke(nameOrSerial string, crlValidity time.Duration) ([]Entry, error) {
	unlock, err := lock(c.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	index, err := c.Index()
	if err != nil {
		return nil, err
	}
	picked, err := pick(index, nameOrSerial)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var revoked []Entry
	for _, i := range picked {
		index[i].Status, index[i].RevokedAt = Revoked, now
		revoked = append(revoked, index[i])
	}
	if err := durable.WriteFile(c.path(IndexFile), formatIndex(index), 0o644); err != nil {
		return nil, err
	}
	if _, err := c.writeCRL(crlValidity); err != nil {
		return nil, fmt.Errorf("revoked in the index, but the CRL was not written (run `smart-proxy ca crl`): %w", err)
	}
	return revoked, nil
}

// pick returns the positions in index of the certificates to revoke.
func pick(index []Entry, arg string) ([]int, error) {
	bySerial := strings.HasPrefix(arg, "0x") || strings.HasPrefix(arg, "0X")
	if !bySerial {
		var valid, revoked []string
		var picked []int
		for i, e := range index {
			if !strings.EqualFold(e.Name(), arg) {
				continue
			}
			if e.Status == Valid {
				picked = append(picked, i)
				valid = append(valid, SerialHex(e.Serial))
			} else {
				revoked = append(revoked, SerialHex(e.Serial))
			}
		}
		if len(picked) > 0 {
			return picked, nil
		}
		if len(revoked) > 0 {
			return nil, fmt.Errorf("%s has no valid certificate left (revoked: serial %s)", arg, strings.Join(revoked, ", "))
		}
	}
	serial, ok := parseSerialHex(arg)
	if !ok {
		return nil, fmt.Errorf("no certificate named %s in the index", arg)
	}
	for i, e := range index {
		if e.Serial.Cmp(serial) != 0 {
			continue
		}
		if e.Status == Revoked {
			return nil, fmt.Errorf("serial %s (%s) is already revoked", SerialHex(serial), e.Subject)
		}
		return []int{i}, nil
	}
	if bySerial {
		return nil, fmt.Errorf("no certificate with serial %s in the index", SerialHex(serial))
	}
	return nil, fmt.Errorf("no certificate named %s or with serial %s in the index", arg, SerialHex(serial))
}
