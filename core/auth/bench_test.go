package auth

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const benchURL = "http://core.example.test/api/v2/smart_proxies?search=name%3D%22proxy1.example.test%22"

// BenchmarkOAuthVerify is one installer-style JSON POST with oauth_body_hash, from
// header parsing to the nonce store; the requests are signed before the timer.
func BenchmarkOAuthVerify(b *testing.B) {
	cfg := oauthConfig()
	cfg.NonceCapacity = b.N + 1
	a, err := New(cfg, users{}, proxies{})
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"smart_proxy":{"name":"proxy1.example.test","url":"https://proxy1.example.test:8443"}}`
	now := time.Now().Unix()
	signed := make([]string, b.N)
	for i := range signed {
		r := httptest.NewRequest("POST", benchURL, strings.NewReader(body))
		gemSign(r, []byte(body), testKey, testSecret, "HMAC-SHA1", now, fmt.Sprint("nonce-", i), true)
		signed[i] = r.Header.Get("Authorization")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest("POST", benchURL, strings.NewReader(body))
		r.Header.Set("Authorization", signed[i])
		if err := a.oauth.verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBasicRemembered is a Basic request after the first (bcrypt) check.
func BenchmarkBasicRemembered(b *testing.B) {
	u, err := sharedUsers()
	if err != nil {
		b.Fatal(err)
	}
	a, err := New(Config{Log: quietLog()}, u, proxies{})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", benchURL, nil)
	r.SetBasicAuth("admin", "changeme")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := a.authenticateUser(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBcryptCheck is what every Basic request would cost without the memory.
func BenchmarkBcryptCheck(b *testing.B) {
	hash, err := HashPassword("changeme")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		CheckPassword(hash, "changeme")
	}
}
