package puppetca

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tokens are JSON Web Tokens (RFC 7519) signed RS512: RSASSA-PKCS1-v1_5 with SHA-512
// (RFC 7518 §3.3), the format the Ruby proxy's tokens have, so tokens handed out
// before a switch keep working.

// tokenClaims is the payload: the certname the token is for and its expiry.
type tokenClaims struct {
	Certname string `json:"certname"`
	Expiry   int64  `json:"exp"` // seconds since the epoch
}

var (
	errTokenMalformed = errors.New("token is not a well-formed RS512 JWT")
	errTokenSignature = errors.New("token signature does not verify")
	errTokenExpired   = errors.New("token has expired")
)

var b64 = base64.RawURLEncoding

// signToken returns header.payload.signature for claims.
func signToken(key *rsa.PrivateKey, claims tokenClaims) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "RS512", "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding token claims: %w", err)
	}
	signingInput := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha512.Sum512([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return signingInput + "." + b64.EncodeToString(sig), nil
}

// verifyToken checks the algorithm, the signature and the expiry, and returns the
// claims. Only RS512 is accepted: the header cannot downgrade to "none" or HMAC.
func verifyToken(pub *rsa.PublicKey, token string, now time.Time) (tokenClaims, error) {
	var claims tokenClaims
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return claims, errTokenMalformed
	}
	rawHeader, err1 := decodeSegment(parts[0])
	rawPayload, err2 := decodeSegment(parts[1])
	sig, err3 := decodeSegment(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return claims, fmt.Errorf("%w: %v", errTokenMalformed, err)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(rawHeader, &header); err != nil || header.Alg != "RS512" {
		return claims, errTokenMalformed
	}
	digest := sha512.Sum512([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA512, digest[:], sig); err != nil {
		return claims, errTokenSignature
	}
	var payload struct {
		Certname string      `json:"certname"`
		Expiry   json.Number `json:"exp"`
	}
	if err := json.Unmarshal(rawPayload, &payload); err != nil {
		return claims, fmt.Errorf("%w: %v", errTokenMalformed, err)
	}
	exp, err := payload.Expiry.Float64()
	if err != nil {
		return claims, fmt.Errorf("%w: exp claim: %v", errTokenMalformed, err)
	}
	claims = tokenClaims{Certname: payload.Certname, Expiry: int64(exp)}
	if !now.Before(time.Unix(claims.Expiry, 0)) {
		return claims, errTokenExpired
	}
	return claims, nil
}

// decodeSegment reads base64url without padding (tolerating padding some encoders add).
func decodeSegment(s string) ([]byte, error) {
	return b64.DecodeString(strings.TrimRight(s, "="))
}
