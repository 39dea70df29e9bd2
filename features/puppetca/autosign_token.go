package puppetca

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/durable"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/registry"
)

// generatedKeyBits is the size of a token signing key created for :certificate:.
const generatedKeyBits = 2048

// tokenAutosigner is puppetca_token_whitelisting: Foreman gets a signed, expiring,
// single-use token per host; the host's agent puts it in its CSR; Puppet Server's
// autosign hook asks POST /puppet/ca/validate, which accepts each token once.
type tokenAutosigner struct {
	signAll  bool
	ttl      time.Duration
	keyFile  string
	generate bool // :certificate: names a file to create when missing
	store    *tokenStore
	state    etcdstate.Config // :state_backend: etcd shares the tokens
	shared   *sharedTokens
	key      *rsa.PrivateKey
	now      func() time.Time
}

var (
	_ registry.Module  = (*tokenAutosigner)(nil)
	_ registry.Starter = (*tokenAutosigner)(nil)
	_ registry.Stopper = (*tokenAutosigner)(nil)
	_ autosigner       = (*tokenAutosigner)(nil)
	_ csrValidator     = (*tokenAutosigner)(nil)
)

func newTokenAutosigner() *tokenAutosigner { return &tokenAutosigner{now: time.Now} }

func (*tokenAutosigner) Name() string { return TokenProvider }

// Configure reads puppetca_token_whitelisting.yml. The signing key is :certificate:
// (created at start when missing) or else the proxy's own :ssl_private_key:.
func (a *tokenAutosigner) Configure(env *registry.Env) error {
	s := env.Settings
	a.signAll = s.Bool("sign_all", false)
	a.store = &tokenStore{path: s.Path("tokens_file", "/var/lib/foreman-proxy/tokens.yml")}
	a.state = etcdstate.Parse(s)
	minutes := s.Int("token_ttl", 360)
	if minutes <= 0 {
		s.Fail("token_ttl", "must be a positive number of minutes, got %d", minutes)
	}
	a.ttl = time.Duration(minutes) * time.Minute
	switch {
	case s.Has("certificate"):
		a.keyFile = s.Path("certificate", "")
		a.generate = true
	case env.Global.SSLPrivateKey != "":
		a.keyFile = env.Global.SSLPrivateKey
	default:
		s.Raw("certificate")
		s.Fail("certificate", "is required when settings.yml has no :ssl_private_key: (tokens are signed with that key)")
		return nil
	}
	key, err := loadRSAKey(a.keyFile)
	switch {
	case err == nil:
		a.key = key
	case a.generate && errors.Is(err, fs.ErrNotExist):
		// created by Start: check-config must not write files
	case s.Has("certificate"):
		s.Fail("certificate", "%v", err)
	default:
		return fmt.Errorf("token signing key (settings.yml :ssl_private_key:): %w", err)
	}
	return nil
}

// Start creates the signing key if :certificate: names a missing file, and the
// tokens file (or, on etcd, loads the shared tokens). On etcd every proxy must sign
// with the same key: give them all the same :certificate:.
func (a *tokenAutosigner) Start(ctx context.Context) error {
	if a.key == nil {
		key, err := rsa.GenerateKey(rand.Reader, generatedKeyBits)
		if err != nil {
			return fmt.Errorf("generating token signing key: %w", err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := durable.WriteFile(a.keyFile, data, 0o600); err != nil {
			return fmt.Errorf("saving token signing key: %w", err)
		}
		a.key = key
	}
	if a.state.Etcd() {
		shared, err := openSharedTokens(ctx, a.state)
		if err != nil {
			return fmt.Errorf("tokens on etcd: %w", err)
		}
		a.shared = shared
		return nil
	}
	return a.store.open()
}

// Stop closes the etcd connection.
func (a *tokenAutosigner) Stop(context.Context) error {
	if a.shared == nil {
		return nil
	}
	err := a.shared.close()
	a.shared = nil
	return err
}

// tokens is where the tokens are kept.
func (a *tokenAutosigner) tokens() tokenKeeper {
	if a.shared != nil {
		return a.shared
	}
	return a.store
}

// List returns the certnames of the unexpired tokens.
func (a *tokenAutosigner) List() ([]string, error) {
	tokens, err := a.tokens().All()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, t := range tokens {
		if claims, err := verifyToken(&a.key.PublicKey, t, a.now()); err == nil {
			out = append(out, claims.Certname)
		}
	}
	return out, nil
}

// Add issues and stores a token for certname; ttlMinutes <= 0 means :token_ttl:.
func (a *tokenAutosigner) Add(certname string, ttlMinutes int) (any, error) {
	ttl := a.ttl
	if ttlMinutes > 0 {
		ttl = time.Duration(ttlMinutes) * time.Minute
	}
	token, err := signToken(a.key, tokenClaims{Certname: certname, Expiry: a.now().Add(ttl).Unix()})
	if err != nil {
		return nil, err
	}
	if err := a.tokens().Add(token, a.unusable); err != nil {
		return nil, err
	}
	return map[string]string{"generated_token": token}, nil
}

// Remove drops certname's tokens, and expired ones with them; absent names are fine.
func (a *tokenAutosigner) Remove(certname string) error {
	return a.tokens().RemoveIf(func(t string) bool {
		claims, err := verifyToken(&a.key.PublicKey, t, a.now())
		return a.unusable(t) || (err == nil && claims.Certname == certname)
	})
}

// unusable tokens can never validate again: expired or not signed by our key.
func (a *tokenAutosigner) unusable(token string) bool {
	_, err := verifyToken(&a.key.PublicKey, token, a.now())
	return err != nil
}

// ValidateCSR decides whether Puppet Server may sign csr (parsed and its signature
// checked by the caller): with :sign_all: always; otherwise its challengePassword must
// be a token we issued for the CSR's CN, still valid and not used before. Using it
// spends it.
func (a *tokenAutosigner) ValidateCSR(ctx context.Context, req *signingRequest) (bool, error) {
	log := httpapi.LoggerFrom(ctx)
	if a.signAll {
		log.Warn("Signing CSR without token verification.")
		return true, nil
	}
	if req.ChallengePassword == "" {
		log.Warnf("CSR for %s did not include a token.", req.CommonName)
		return false, nil
	}
	claims, err := verifyToken(&a.key.PublicKey, req.ChallengePassword, a.now())
	if err != nil {
		log.Warnf("Token in the CSR for %s refused: %v", req.CommonName, err)
		return false, nil
	}
	// Stricter than the Ruby proxy: a token only signs the name it was issued for.
	if !strings.EqualFold(claims.Certname, req.CommonName) {
		log.Warnf("Token for %s presented in a CSR for %s.", claims.Certname, req.CommonName)
		return false, nil
	}
	taken, err := a.tokens().Take(req.ChallengePassword)
	if err != nil {
		return false, err
	}
	if !taken {
		log.Warnf("Token for %s is not (or no longer) in the tokens file.", req.CommonName)
		return false, nil
	}
	log.Infof("Token for %s accepted; the certificate may be signed.", req.CommonName)
	return true, nil
}

// loadRSAKey reads a PEM RSA private key (PKCS #1 or PKCS #8).
func loadRSAKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM private key", path)
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return key, nil
		case "PRIVATE KEY":
			parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			key, ok := parsed.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s holds a %T, token signing (RS512) needs an RSA key", path, parsed)
			}
			return key, nil
		case "EC PRIVATE KEY":
			return nil, fmt.Errorf("%s holds an EC key, token signing (RS512) needs an RSA key", path)
		}
	}
}
