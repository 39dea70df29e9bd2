package puppetca

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	key := testRSAKey(t)
	exp := time.Now().Add(time.Hour).Unix()
	token, err := signToken(key, tokenClaims{Certname: "host.example.com", Expiry: exp})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || strings.ContainsAny(token, "=+/") {
		t.Fatalf("not a compact base64url JWT: %s", token)
	}
	header, _ := b64.DecodeString(parts[0])
	if string(header) != `{"alg":"RS512","typ":"JWT"}` {
		t.Errorf("header %s", header)
	}
	claims, err := verifyToken(&key.PublicKey, token, time.Now())
	if err != nil || claims != (tokenClaims{Certname: "host.example.com", Expiry: exp}) {
		t.Fatalf("claims %+v, %v", claims, err)
	}
}

// A token as ruby-jwt writes it (header without typ, exp as a number) verifies.
func TestTokenFromRubyJWT(t *testing.T) {
	key := testRSAKey(t)
	token := handMadeToken(t, key, `{"alg":"RS512"}`, `{"certname":"ruby.example.com","exp":4102444800}`)
	claims, err := verifyToken(&key.PublicKey, token, time.Now())
	if err != nil || claims.Certname != "ruby.example.com" || claims.Expiry != 4102444800 {
		t.Fatalf("claims %+v, %v", claims, err)
	}
}

func TestTokenRefusals(t *testing.T) {
	key := testRSAKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	future := `{"certname":"h","exp":4102444800}`
	good := handMadeToken(t, key, `{"alg":"RS512"}`, future)
	parts := strings.Split(good, ".")
	for name, c := range map[string]struct {
		token string
		want  error
	}{
		"empty":              {"", errTokenMalformed},
		"two parts":          {parts[0] + "." + parts[1], errTokenMalformed},
		"bad base64":         {"!!." + parts[1] + "." + parts[2], errTokenMalformed},
		"alg none":           {handMadeUnsigned(`{"alg":"none"}`, future), errTokenMalformed},
		"alg HS512":          {handMadeUnsigned(`{"alg":"HS512"}`, future) + "c2ln", errTokenMalformed},
		"alg RS256":          {handMadeToken(t, key, `{"alg":"RS256"}`, future), errTokenMalformed},
		"other key":          {handMadeToken(t, other, `{"alg":"RS512"}`, future), errTokenSignature},
		"payload swapped":    {parts[0] + "." + b64.EncodeToString([]byte(`{"certname":"x","exp":4102444800}`)) + "." + parts[2], errTokenSignature},
		"expired":            {handMadeToken(t, key, `{"alg":"RS512"}`, `{"certname":"h","exp":946684800}`), errTokenExpired},
		"exp missing":        {handMadeToken(t, key, `{"alg":"RS512"}`, `{"certname":"h"}`), errTokenMalformed},
		"exp not a number":   {handMadeToken(t, key, `{"alg":"RS512"}`, `{"certname":"h","exp":"soon"}`), errTokenMalformed},
		"payload not object": {handMadeToken(t, key, `{"alg":"RS512"}`, `[1]`), errTokenMalformed},
	} {
		if _, err := verifyToken(&key.PublicKey, c.token, time.Now()); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func handMadeUnsigned(header, payload string) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload)) + "."
}

func handMadeToken(t *testing.T, key *rsa.PrivateKey, header, payload string) string {
	t.Helper()
	if !json.Valid([]byte(header)) {
		t.Fatalf("bad header %s", header)
	}
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	digest := sha512.Sum512([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}
