package puppetca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/puppetapi/puppettest"
)

type fixture struct {
	proxy   *proxytest.Proxy
	ca      *fakeCA
	server  *puppettest.Server
	feature *Feature
	dir     string // scratch folder for autosign/tokens/key files
}

// start runs puppetca against a stand-in CA with the given puppetca.yml body and
// autosign provider settings (file name → content).
func start(t *testing.T, puppetcaYAML string, extra map[string]string) *fixture {
	t.Helper()
	return startWithGlobal(t, "", puppetcaYAML, extra)
}

// startWithGlobal is start with lines added to settings.yml.
func startWithGlobal(t *testing.T, globalYAML, puppetcaYAML string, extra map[string]string) *fixture {
	t.Helper()
	pki := puppettest.NewPKI(t)
	ca := newFakeCA()
	srv := puppettest.StartServer(t, pki, ca)
	dir := t.TempDir()
	files := map[string]string{
		"puppetca.yml": ":enabled: true\n" + puppetcaYAML,
		"puppetca_http_api.yml": fmt.Sprintf(":puppet_url: %s\n:puppet_ssl_ca: %s\n:puppet_ssl_cert: %s\n:puppet_ssl_key: %s\n",
			srv.URL, pki.CAFile, pki.ClientCert, pki.ClientKey),
	}
	for name, content := range extra {
		files[name] = strings.ReplaceAll(content, "$DIR", dir)
	}
	f := New()
	p := proxytest.Start(t, globalYAML, files, f)
	return &fixture{proxy: p, ca: ca, server: srv, feature: f, dir: dir}
}

func (fx *fixture) do(t *testing.T, method, path string, form map[string][]string) proxytest.Response {
	t.Helper()
	return fx.proxy.Do(t, method, path, form)
}

func expect(t *testing.T, r proxytest.Response, status int, body string) {
	t.Helper()
	if r.Status != status || r.Body != body {
		t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, status, body)
	}
}

func expectPrefix(t *testing.T, r proxytest.Response, status int, prefix string) {
	t.Helper()
	if r.Status != status || !strings.HasPrefix(r.Body, prefix) {
		t.Fatalf("got %d %q, want %d %q...", r.Status, r.Body, status, prefix)
	}
}

// makeCSR builds a PEM CSR for cn carrying challenge (when not empty) the way Puppet's
// Ruby OpenSSL does: a PrintableString attribute, whatever characters it holds.
func makeCSR(t testing.TB, cn, challenge string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: makeCSRWith(t, key, cn, challenge, asn1.TagPrintableString)})
}

// makeCSRWith builds the DER of a CSR for cn signed by key (ECDSA P-256 or Ed25519),
// with a challengePassword attribute of the given string tag when challenge is not
// empty (for a BMPString, challenge is taken as already encoded).
func makeCSRWith(t testing.TB, key crypto.Signer, cn, challenge string, tag int) []byte {
	t.Helper()
	plainDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	if challenge == "" {
		return plainDER
	}
	plain, _ := x509.ParseCertificateRequest(plainDER)
	value, _ := asn1.Marshal(asn1.RawValue{Tag: tag, Bytes: []byte(challenge)})
	attr, _ := asn1.Marshal(struct {
		Type   asn1.ObjectIdentifier
		Values asn1.RawValue
	}{oidChallengePassword, asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: value}})
	tbs, err := asn1.Marshal(struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes asn1.RawValue
	}{0, asn1.RawValue{FullBytes: plain.RawSubject}, asn1.RawValue{FullBytes: plain.RawSubjectPublicKeyInfo},
		asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attr}})
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	var algorithm asn1.ObjectIdentifier
	switch key.(type) {
	case ed25519.PrivateKey:
		algorithm = asn1.ObjectIdentifier{1, 3, 101, 112}
		sig, err = key.Sign(rand.Reader, tbs, crypto.Hash(0))
	default:
		algorithm = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2} // ecdsa-with-SHA256
		digest := sha256.Sum256(tbs)
		sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: algorithm},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// testRSAKey is one 2048-bit key for the whole test binary (generation is slow).
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

// writeRSAKey writes testRSAKey as PKCS #1 PEM into dir and returns the path.
func writeRSAKey(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "signing.key")
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey(t))})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
