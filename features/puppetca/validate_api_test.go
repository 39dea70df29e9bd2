package puppetca

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const (
	charsetRule = ": only lower-case letters, digits, '.', '-' and '_' are allowed"
	dotsRule    = ": must not start with '.' or contain '..'"
)

// TestCertnameRefusals: every certname route refuses what is not a Puppet certname
// with 400 before the CA or the autosign store is touched (issue 15 item 4). The
// stand-in CA answers 500 to anything, so a request that reached it would be a 406.
func TestCertnameRefusals(t *testing.T) {
	for _, provider := range []string{"hostname", "token"} {
		t.Run(provider, func(t *testing.T) {
			var fx *fixture
			if provider == "token" {
				fx = startToken(t, "")
			} else {
				fx, _ = startHostname(t)
			}
			fx.ca.fail = http.StatusInternalServerError
			routes := []struct{ method, prefix string }{
				{http.MethodPost, "/puppet/ca/"},
				{http.MethodDelete, "/puppet/ca/"},
				{http.MethodPost, "/puppet/ca/autosign/"},
				{http.MethodDelete, "/puppet/ca/autosign/"},
			}
			names := []struct{ escaped, want string }{
				{"..", "Invalid certname .." + dotsRule},
				{".", "Invalid certname ." + dotsRule},
				{"a..b.example.com", "Invalid certname a..b.example.com" + dotsRule},
				{".hidden", "Invalid certname .hidden" + dotsRule},
				{"%ff", `Invalid certname \xff` + charsetRule},
				{"a%0Ab", `Invalid certname a\nb` + charsetRule},
				{"a%00b", `Invalid certname a\x00b` + charsetRule},
				{"Host.Example.com", "Invalid certname Host.Example.com" + charsetRule},
				{"a:b.example.com", "Invalid certname a:b.example.com" + charsetRule},
				{"a%20b", "Invalid certname a b" + charsetRule},
				{"caf%C3%A9.example.com", "Invalid certname caf\u00e9.example.com" + charsetRule},
				{"..%2F..%2Fetc", "Invalid certname ../../etc" + charsetRule},
				{strings.Repeat("a", 256), "Invalid certname " + strings.Repeat("a", 256)[:64] + "... (256 bytes): longer than 255 bytes"},
			}
			for _, route := range routes {
				for _, n := range names {
					got := fx.do(t, route.method, route.prefix+n.escaped, nil)
					if got.Status != 400 || got.Body != n.want {
						t.Errorf("%s %s%s = %d %q, want 400 %q", route.method, route.prefix, n.escaped, got.Status, got.Body, n.want)
					}
				}
			}
			// A glob is an autosign entry, not a certname.
			if got := fx.do(t, http.MethodPost, "/puppet/ca/*.lab.example.com", nil); got.Status != 400 || got.Body != "Invalid certname *.lab.example.com"+charsetRule {
				t.Errorf("sign a glob: %d %q", got.Status, got.Body)
			}
			if got := fx.do(t, http.MethodPost, "/puppet/ca/autosign/*.*.example.com", nil); got.Status != 400 {
				t.Errorf("autosign *.*.example.com: %d %q, want 400", got.Status, got.Body)
			}
			expect(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 200, "[]")
		})
	}
}

// TestCertnamesForemanSends pass on every route.
func TestCertnamesForemanSends(t *testing.T) {
	fx, _ := startHostname(t)
	for _, name := range []string{"web01.example.com", "a1.ok.test", "host_with_underscore.example.com", "x", "0-9.example.com", "*.lab.example.com"} {
		expect(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/"+name, nil), 200, "")
		expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/"+name, nil), 200, "")
		if strings.HasPrefix(name, "*") {
			continue
		}
		fx.ca.request(name)
		expect(t, fx.do(t, http.MethodPost, "/puppet/ca/"+name, nil), 200, "")
		expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/"+name, nil), 200, "")
	}
}

// TestValidateBodyRefusals: POST /puppet/ca/validate says what is wrong with a body
// that is not a CSR (the Ruby proxy answered an empty 404), and bounds its size.
func TestValidateBodyRefusals(t *testing.T) {
	good := makeCSR(t, "agent.example.com", "")
	block, _ := pem.Decode(good)
	for _, signAll := range []bool{false, true} {
		yaml := ""
		if signAll {
			yaml = ":sign_all: true\n"
		}
		fx := startToken(t, yaml)
		tests := []struct {
			name       string
			body       []byte
			wantStatus int
			wantBody   string
		}{
			{"empty", nil, 400, "No CSR in the request body: post the PEM certificate request Puppet Server received"},
			{"blank lines", []byte("\n\r\n  \n"), 400, "No CSR in the request body: post the PEM certificate request Puppet Server received"},
			{"garbage", []byte("hello, this is not a CSR"), 400, `Invalid CSR: neither a PEM "CERTIFICATE REQUEST" block nor DER`},
			{"broken PEM", []byte("-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n"), 400,
				"Invalid CSR: the PEM block does not decode (broken base64 or a missing END line)"},
			{"PEM certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}), 400,
				`Invalid CSR: PEM block is "CERTIFICATE", not a certificate request`},
			{"truncated DER", block.Bytes[:40], 400, "Invalid CSR: not a PKCS #10 certificate request: asn1: syntax error: data truncated"},
			{"bad signature", tamperedSignature(t, good), 400, "Invalid CSR: certificate request signature: x509: ECDSA verification failure"},
			{"64 KiB + 1", bytes.Repeat([]byte("a"), maxCSR+1), 413, "Request body too large: this route takes at most 65536 bytes"},
			{"10 MiB", bytes.Repeat([]byte("a"), 10<<20), 413, "Request body too large: this route takes at most 65536 bytes"},
		}
		for _, tt := range tests {
			status, body := postCSR(t, fx.proxy, tt.body)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("sign_all %v, %s: %d %q, want %d %q", signAll, tt.name, status, body, tt.wantStatus, tt.wantBody)
			}
		}
		// A real CSR still gets the bare answer of the Ruby proxy.
		want := 404
		if signAll {
			want = 200
		}
		if status, body := postCSR(t, fx.proxy, good); status != want || body != "" {
			t.Errorf("sign_all %v, CSR without token: %d %q, want %d and no body", signAll, status, body, want)
		}
	}
}

func postCSR(t *testing.T, p *proxytest.Proxy, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/puppet/ca/validate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/pkcs10")
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tamperedSignature flips the last byte of a PEM CSR's DER (inside the signature).
func tamperedSignature(t *testing.T, csrPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(csrPEM)
	der := bytes.Clone(block.Bytes)
	der[len(der)-1] ^= 0xff
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})
}
