package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// oauthVerifier checks two-legged OAuth 1.0 requests (RFC 5849 §3.2) signed with
// the consumer secret and an empty token secret, as the installer's oauth gem sends
// them. Foreman checks only key and signature; we also refuse stale timestamps and
// replayed nonces (see README).
type oauthVerifier struct {
	consumerKey, consumerSecret string
	window                      time.Duration
	maxBody                     int64
	nonces                      *nonceStore
	now                         func() time.Time
	// origin is the scheme and host the client addressed (Authenticator.Origin);
	// nil = as this process received the request.
	origin func(*http.Request) (scheme, host string)
}

// errBodyTooLarge is the one verification failure that is not a 401: the body
// that must be hashed or parsed is larger than we read.
var errBodyTooLarge = errors.New("request body too large to verify")

// maxNonceLength bounds what one remembered nonce costs; the gem sends 40 bytes.
const maxNonceLength = 255

// verify returns nil when r carries a valid OAuth signature; the error says why
// not (for the log, never for the client). r.Body is read only when it is signed
// (form body) or hashed (oauth_body_hash) and is then restored for the handler.
func (v *oauthVerifier) verify(r *http.Request) error {
	oauth, err := parseOAuthHeader(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	for _, required := range []string{"oauth_consumer_key", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce"} {
		if oauth[required] == "" {
			return fmt.Errorf("%s missing", required)
		}
	}
	if subtle.ConstantTimeCompare([]byte(oauth["oauth_consumer_key"]), []byte(v.consumerKey)) != 1 {
		return fmt.Errorf("unknown oauth_consumer_key %q", oauth["oauth_consumer_key"])
	}
	if version, ok := oauth["oauth_version"]; ok && version != "1.0" {
		return fmt.Errorf("oauth_version %q is not 1.0", version)
	}
	newHash, err := hashFor(oauth["oauth_signature_method"])
	if err != nil {
		return err
	}
	timestamp, err := v.checkTimestamp(oauth["oauth_timestamp"])
	if err != nil {
		return err
	}
	if len(oauth["oauth_nonce"]) > maxNonceLength {
		return fmt.Errorf("oauth_nonce longer than %d bytes", maxNonceLength)
	}

	params, body, err := v.signedParams(r, oauth)
	if err != nil {
		return err
	}
	_, hashBody := oauth["oauth_body_hash"]

	given, err := base64.StdEncoding.DecodeString(oauth["oauth_signature"])
	if err != nil {
		return fmt.Errorf("oauth_signature is not base64: %w", err)
	}
	mac := hmac.New(newHash, []byte(percentEncode(v.consumerSecret)+"&"))
	scheme, host := receivedOrigin(r)
	if v.origin != nil {
		scheme, host = v.origin(r)
	}
	mac.Write([]byte(signatureBaseString(r, scheme, host, params)))
	if !hmac.Equal(mac.Sum(nil), given) {
		return errors.New("signature does not match")
	}
	if hashBody {
		if err := checkBodyHash(newHash, body, oauth["oauth_body_hash"]); err != nil {
			return err
		}
	}
	// Only a request whose signature verified may take a place in the nonce store:
	// otherwise anyone could fill it.
	return v.nonces.remember(oauth["oauth_nonce"], timestamp, v.now())
}

// signedParams collects what RFC 5849 §3.4.1.3.1 signs: the query, the OAuth
// header's parameters and, for a form-encoded request, the body's fields. The body
// is returned when it had to be read (form, or oauth_body_hash to check).
func (v *oauthVerifier) signedParams(r *http.Request, oauth map[string]string) ([]param, []byte, error) {
	params, err := parseFormEncoded(r.URL.RawQuery)
	if err != nil {
		return nil, nil, fmt.Errorf("query: %w", err)
	}
	for name, value := range oauth {
		params = append(params, param{name, value})
	}
	_, hashBody := oauth["oauth_body_hash"]
	formBody := isFormEncoded(r.Header.Get("Content-Type"))
	var body []byte
	if hashBody || formBody {
		if body, err = v.readAndRestoreBody(r); err != nil {
			return nil, nil, err
		}
	}
	if formBody {
		fields, err := parseFormEncoded(string(body))
		if err != nil {
			return nil, nil, fmt.Errorf("form body: %w", err)
		}
		params = append(params, fields...)
	}
	// oauth_signature is never signed, wherever it appears.
	return withoutParam(params, "oauth_signature"), body, nil
}

// hashFor maps the signature methods we accept: HMAC-SHA1 (what the installer
// sends) and HMAC-SHA256. PLAINTEXT and RSA-SHA1 are refused.
func hashFor(method string) (func() hash.Hash, error) {
	switch method {
	case "HMAC-SHA1":
		return sha1.New, nil
	case "HMAC-SHA256":
		return sha256.New, nil
	}
	return nil, fmt.Errorf("unsupported oauth_signature_method %q", method)
}

// checkTimestamp accepts a timestamp within ±window of now and returns it.
func (v *oauthVerifier) checkTimestamp(raw string) (int64, error) {
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || ts < 0 {
		return 0, fmt.Errorf("oauth_timestamp %q is not a number of seconds", raw)
	}
	age := v.now().Unix() - ts
	if age > int64(v.window/time.Second) || -age > int64(v.window/time.Second) {
		return 0, fmt.Errorf("oauth_timestamp %d is %d s away from now, outside ±%s", ts, age, v.window)
	}
	return ts, nil
}

// readAndRestoreBody reads at most maxBody bytes of the body and puts them back so
// the handler reads the same bytes.
func (v *oauthVerifier) readAndRestoreBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > v.maxBody {
		return nil, errBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// checkBodyHash verifies oauth_body_hash: base64 of the body's digest with the
// signature method's hash (SHA-1 for HMAC-SHA1), per the OAuth Request Body Hash
// extension the gem implements.
func checkBodyHash(newHash func() hash.Hash, body []byte, given string) error {
	want, err := base64.StdEncoding.DecodeString(given)
	if err != nil {
		return fmt.Errorf("oauth_body_hash is not base64: %w", err)
	}
	h := newHash()
	h.Write(body)
	if !hmac.Equal(h.Sum(nil), want) {
		return errors.New("oauth_body_hash does not match the body")
	}
	return nil
}

func isFormEncoded(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == "application/x-www-form-urlencoded"
}

func withoutParam(params []param, name string) []param {
	kept := params[:0]
	for _, p := range params {
		if p.name != name {
			kept = append(kept, p)
		}
	}
	return kept
}
