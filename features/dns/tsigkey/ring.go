package tsigkey

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"

	"github.com/miekg/dns"
)

// Ring is a set of keys by canonical name. It implements dns.TsigProvider and, unlike
// miekg's map-based provider, refuses a message signed with a known key name but a
// different algorithm than the key was configured with.
type Ring map[string]Key

var _ dns.TsigProvider = Ring(nil)

// NewRing indexes keys by name.
func NewRing(keys ...Key) Ring {
	r := make(Ring, len(keys))
	for _, k := range keys {
		r[k.Name] = k
	}
	return r
}

// Generate computes the MAC of msg with the key t names.
func (r Ring) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	k, ok := r[dns.CanonicalName(t.Hdr.Name)]
	if !ok {
		return nil, dns.ErrSecret
	}
	if dns.CanonicalName(t.Algorithm) != k.Algorithm {
		return nil, dns.ErrKeyAlg
	}
	secret, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return nil, dns.ErrSecret
	}
	var h hash.Hash
	switch k.Algorithm {
	case dns.HmacSHA1:
		h = hmac.New(sha1.New, secret)
	case dns.HmacSHA224:
		h = hmac.New(sha256.New224, secret)
	case dns.HmacSHA256:
		h = hmac.New(sha256.New, secret)
	case dns.HmacSHA384:
		h = hmac.New(sha512.New384, secret)
	case dns.HmacSHA512:
		h = hmac.New(sha512.New, secret)
	default:
		return nil, dns.ErrKeyAlg
	}
	h.Write(msg)
	return h.Sum(nil), nil
}

// Verify checks the MAC carried by t.
func (r Ring) Verify(msg []byte, t *dns.TSIG) error {
	want, err := r.Generate(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil || !hmac.Equal(want, got) {
		return dns.ErrSig
	}
	return nil
}

// ErrorCode maps a verification error to the TSIG error a server reports (RFC 8945 §5.2).
func ErrorCode(err error) uint16 {
	switch err {
	case nil:
		return 0
	case dns.ErrTime:
		return dns.RcodeBadTime
	case dns.ErrSig:
		return dns.RcodeBadSig
	}
	return dns.RcodeBadKey
}
