package puppetca

import (
	"bytes"
	"crypto/ed25519"
	"encoding/asn1"
	"encoding/pem"
	"testing"
	"time"
)

// FuzzParseSigningRequest feeds untrusted bytes (what POST /puppet/ca/validate
// receives) to the CSR parser: it must never panic.
//
// The seeds are small on purpose: CSRs with an Ed25519 key (about 200 bytes of DER,
// deterministic signatures) in DER and PEM. Seeded with Puppet agents' 4096-bit RSA
// CSRs (1.6 KB of PEM; TestParseAgentCSRs keeps them), every input that reached new
// coverage in the big-number code took the worker into Go's input minimisation for
// up to a minute: 6 executions in 48 s under plain `go test -fuzz`.
func FuzzParseSigningRequest(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	withToken := makeCSRWith(f, key, "fuzz.example.com", "tok.en-123_abc", asn1.TagPrintableString)
	f.Add(withToken)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: withToken}))
	f.Add(makeCSRWith(f, key, "a.test", "", 0))
	f.Add(makeCSRWith(f, key, "b.test", "\x00t\x00o", asn1.TagBMPString))
	f.Add(makeCSRWith(f, key, "c.test", "tok", asn1.TagUTF8String))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseSigningRequest(data)
		if err == nil && req == nil {
			t.Fatal("nil request without an error")
		}
		_, _ = challengePassword(data) // raw DER straight into the attribute walker too
	})
}

// FuzzVerifyToken feeds untrusted tokens (from CSRs) to the JWT verifier.
func FuzzVerifyToken(f *testing.F) {
	key := testRSAKey(f)
	good, err := signToken(key, tokenClaims{Certname: "fuzz.example.com", Expiry: 4102444800})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := verifyToken(&key.PublicKey, token, time.Unix(0, 0))
		if err == nil && token != good && claims.Certname == "" {
			t.Fatalf("accepted %q", token)
		}
	})
}
