// Package tsigkey reads BIND key files (what tsig-keygen writes and nsupdate -k reads)
// and signs and verifies TSIG (RFC 8945) with the keys found, for both DNS providers.
package tsigkey

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Key is one TSIG key. Name and Algorithm are canonical (lower case, trailing dot),
// as miekg/dns compares them; Secret is base64.
type Key struct {
	Name      string
	Algorithm string
	Secret    string
}

// algorithms maps BIND's algorithm names to the wire names.
var algorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// Algorithm maps "hmac-sha256" (any case, with or without a trailing dot) to its wire name.
func Algorithm(name string) (string, error) {
	if alg, ok := algorithms[strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")]; ok {
		return alg, nil
	}
	return "", fmt.Errorf("unsupported TSIG algorithm %q (use hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512)", name)
}

// New checks and canonicalises a key given by its parts.
func New(name, algorithm, secret string) (Key, error) {
	if strings.TrimSpace(name) == "" {
		return Key{}, fmt.Errorf("TSIG key has no name")
	}
	alg, err := Algorithm(algorithm)
	if err != nil {
		return Key{}, fmt.Errorf("TSIG key %q: %w", name, err)
	}
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(raw) == 0 {
		return Key{}, fmt.Errorf("TSIG key %q: secret is not base64", name)
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return Key{}, fmt.Errorf("TSIG key name %q is not a domain name", name)
	}
	return Key{Name: dns.CanonicalName(name), Algorithm: alg, Secret: secret}, nil
}

// Sign attaches a TSIG stub to m; the client or server fills in the MAC when packing.
func (k Key) Sign(m *dns.Msg) {
	m.SetTsig(k.Name, k.Algorithm, 300, time.Now().Unix())
}
