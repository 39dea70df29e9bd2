package puppetca

import (
	"os"
	"testing"
	"time"
)

// FuzzParseSigningRequest feeds untrusted bytes (what POST /puppet/ca/validate
// receives) to the CSR parser: it must never panic.
func FuzzParseSigningRequest(f *testing.F) {
	for _, file := range []string{"testdata/agent-csr-with-challenge.pem", "testdata/agent-csr-plain.pem"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(makeCSR(f, "fuzz.example.com", "token"))
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
