package puppetca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const tokenProvider = ":use_provider: puppetca_token_whitelisting\n"

func startToken(t *testing.T, providerYAML string) *fixture {
	t.Helper()
	fx := start(t, tokenProvider, map[string]string{
		"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/state/tokens.yml\n:certificate: $DIR/token.key\n" + providerYAML,
	})
	if s := fx.proxy.State("puppetca"); s != "running" {
		t.Fatalf("puppetca is %s", s)
	}
	return fx
}

func (fx *fixture) newToken(t *testing.T, certname string, form url.Values) string {
	t.Helper()
	r := fx.do(t, http.MethodPost, "/puppet/ca/autosign/"+certname, form)
	var reply map[string]string
	if r.Status != 200 || json.Unmarshal([]byte(r.Body), &reply) != nil || len(reply) != 1 || reply["generated_token"] == "" {
		t.Fatalf("autosign %s: %d %q", certname, r.Status, r.Body)
	}
	return reply["generated_token"]
}

func (fx *fixture) validate(t *testing.T, csr []byte, contentType string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fx.proxy.URL+"/puppet/ca/validate", strings.NewReader(string(csr)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := fx.proxy.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (fx *fixture) tokenAutosigner() *tokenAutosigner { return fx.feature.autosign.(*tokenAutosigner) }

func TestTokenIssueListRemove(t *testing.T) {
	fx := startToken(t, "")
	before := time.Now()
	token := fx.newToken(t, "host.example.com", nil)
	claims, err := verifyToken(&fx.tokenAutosigner().key.PublicKey, token, time.Now())
	if err != nil || claims.Certname != "host.example.com" {
		t.Fatalf("token claims %+v, %v", claims, err)
	}
	if exp := time.Unix(claims.Expiry, 0); exp.Before(before.Add(359*time.Minute)) || exp.After(time.Now().Add(361*time.Minute)) {
		t.Errorf("default expiry %v, want 360 minutes from now", exp)
	}
	short := fx.newToken(t, "other.example.com", url.Values{"token_ttl": {"5"}})
	if c, _ := verifyToken(&fx.tokenAutosigner().key.PublicKey, short, time.Now()); time.Until(time.Unix(c.Expiry, 0)) > 5*time.Minute {
		t.Errorf("token_ttl=5 gave expiry %v", time.Unix(c.Expiry, 0))
	}
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["host.example.com","other.example.com"]`)
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/host.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/never.example.com", nil), 200, "")
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["other.example.com"]`)
	data, _ := os.ReadFile(filepath.Join(fx.dir, "state", "tokens.yml"))
	if !strings.HasPrefix(string(data), "---\n- ") || strings.Contains(string(data), token) || !strings.Contains(string(data), short) {
		t.Errorf("tokens file:\n%s", data)
	}
}

func TestTokenValidateSingleUse(t *testing.T) {
	fx := startToken(t, "")
	token := fx.newToken(t, "agent.example.com", nil)
	csr := makeCSR(t, "agent.example.com", token)
	if got := fx.validate(t, csr, "application/pkcs10"); got != 200 {
		t.Fatalf("first use: %d, want 200", got)
	}
	if got := fx.validate(t, csr, "application/pkcs10"); got != 404 {
		t.Fatalf("second use: %d, want 404", got)
	}
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 200, "[]")
}

func TestTokenValidateRefusals(t *testing.T) {
	fx := startToken(t, "")
	a := fx.tokenAutosigner()
	valid := fx.newToken(t, "agent.example.com", nil)
	forgedKey := testRSAKey(t)
	forged, _ := signToken(forgedKey, tokenClaims{Certname: "agent.example.com", Expiry: time.Now().Add(time.Hour).Unix()})
	notStored, _ := signToken(a.key, tokenClaims{Certname: "agent.example.com", Expiry: time.Now().Add(time.Hour).Unix() + 1})
	expired := fx.newToken(t, "late.example.com", nil)
	for name, csr := range map[string][]byte{
		"no token":              makeCSR(t, "agent.example.com", ""),
		"wrong token":           makeCSR(t, "agent.example.com", "not-a-token"),
		"forged signature":      makeCSR(t, "agent.example.com", forged),
		"signed but not stored": makeCSR(t, "agent.example.com", notStored),
		"token for another CN":  makeCSR(t, "intruder.example.com", valid),
	} {
		if got := fx.validate(t, csr, "application/pkcs10"); got != 404 {
			t.Errorf("%s: %d, want 404", name, got)
		}
	}
	a.now = func() time.Time { return time.Now().Add(7 * time.Hour) }
	if got := fx.validate(t, makeCSR(t, "late.example.com", expired), "application/pkcs10"); got != 404 {
		t.Errorf("expired token: %d, want 404", got)
	}
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 200, "[]")
	a.now = time.Now
	// None of the refusals spent the valid token.
	if got := fx.validate(t, makeCSR(t, "agent.example.com", valid), "application/pkcs10"); got != 200 {
		t.Errorf("valid token after refusals: %d, want 200", got)
	}
}

func TestTokenValidateFormEncodedBody(t *testing.T) {
	// Ruby's Net::HTTP (the stock autosign script) posts the PEM with the form type.
	fx := startToken(t, "")
	token := fx.newToken(t, "agent.example.com", nil)
	if got := fx.validate(t, makeCSR(t, "agent.example.com", token), "application/x-www-form-urlencoded"); got != 200 {
		t.Fatalf("form-typed CSR: %d, want 200", got)
	}
}

func TestTokenSignAll(t *testing.T) {
	fx := startToken(t, ":sign_all: true\n")
	if got := fx.validate(t, makeCSR(t, "any.example.com", ""), ""); got != 200 {
		t.Errorf("sign_all: %d, want 200", got)
	}
}

func TestTokenKeySources(t *testing.T) {
	t.Run("generated for a missing :certificate:", func(t *testing.T) {
		fx := startToken(t, "")
		info, err := os.Stat(filepath.Join(fx.dir, "token.key"))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("generated key: %v %v", info, err)
		}
		if _, err := loadRSAKey(filepath.Join(fx.dir, "token.key")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("settings.yml ssl_private_key by default", func(t *testing.T) {
		keyFile := writeRSAKey(t, t.TempDir())
		fx := startWithGlobal(t, ":ssl_private_key: "+keyFile+"\n", tokenProvider,
			map[string]string{"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/tokens.yml\n"})
		if s := fx.proxy.State("puppetca"); s != "running" {
			t.Fatalf("puppetca is %s", s)
		}
		if !fx.tokenAutosigner().key.Equal(testRSAKey(t)) {
			t.Error("tokens are not signed with ssl_private_key")
		}
	})
	ecKey := filepath.Join(t.TempDir(), "ec.key")
	ecDER, _ := x509.MarshalECPrivateKey(mustECKey(t))
	if err := os.WriteFile(ecKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ provider, want string }{
		"no key at all":  {":tokens_file: $DIR/t.yml\n", ":certificate: is required when settings.yml has no :ssl_private_key:"},
		"EC key":         {":tokens_file: $DIR/t.yml\n:certificate: " + ecKey + "\n", "needs an RSA key"},
		"not a key":      {":tokens_file: $DIR/t.yml\n:certificate: /etc/hostname\n", "holds no PEM private key"},
		"bad ttl":        {":tokens_file: $DIR/t.yml\n:certificate: $DIR/k.key\n:token_ttl: -1\n", ":token_ttl: must be a positive number"},
		"bad sign_all":   {":tokens_file: $DIR/t.yml\n:certificate: $DIR/k.key\n:sign_all: yes please\n", ":sign_all: must be true or false"},
		"corrupt tokens": {":tokens_file: /etc/hostname\n:certificate: $DIR/k.key\n", "is not a YAML list of tokens"},
	} {
		t.Run(name, func(t *testing.T) {
			fx := start(t, tokenProvider, map[string]string{"puppetca_token_whitelisting.yml": c.provider})
			state, err := fx.proxy.Registry.StateOf("puppetca")
			if state != "failed" || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("state %s, error %v; want failed with %q", state, err, c.want)
			}
		})
	}
}

func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestTokensFileFromRubyProxy(t *testing.T) {
	fx := startToken(t, "")
	a := fx.tokenAutosigner()
	token, _ := signToken(a.key, tokenClaims{Certname: "ruby.example.com", Expiry: time.Now().Add(time.Hour).Unix()})
	// The Ruby proxy writes Array#to_yaml.
	if err := os.WriteFile(a.store.path, []byte("---\n- "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["ruby.example.com"]`)
	if got := fx.validate(t, makeCSR(t, "ruby.example.com", token), ""); got != 200 {
		t.Fatalf("Ruby-stored token: %d", got)
	}
}

func TestTokenStoreFailures(t *testing.T) {
	fx := startToken(t, "")
	token := fx.newToken(t, "agent.example.com", nil)
	store := fx.tokenAutosigner().store.path
	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(store, 0o755); err != nil { // unreadable as a file, even for root
		t.Fatal(err)
	}
	expectPrefix(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 406, "Failed to list autosign entries: ")
	expectPrefix(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/b.example.com", nil), 406, "Failed to enable autosign for b.example.com: ")
	expectPrefix(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/b.example.com", nil), 406, "Failed to remove autosign for b.example.com: ")
	req, _ := http.NewRequest(http.MethodPost, fx.proxy.URL+"/puppet/ca/validate", strings.NewReader(string(makeCSR(t, "agent.example.com", token))))
	resp, err := fx.proxy.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 406 || !strings.HasPrefix(string(body), "Failed to validate CSR: ") {
		t.Fatalf("validate with a broken store: %d %q", resp.StatusCode, body)
	}
}
