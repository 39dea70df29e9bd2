package tsigkey

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Key
		wantErr string
	}{
		{
			name: "tsig-keygen output",
			in:   "key \"ddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n",
			want: []Key{{Name: "ddns-key.", Algorithm: dns.HmacSHA256, Secret: "c2VjcmV0"}},
		},
		{
			name: "comments, unquoted name, two keys",
			in:   "# made by hand\nkey Up.Key { algorithm HMAC-SHA512; secret \"YWJj\"; }; // one\n/* two */ key \"b\" { secret \"eHl6\"; algorithm hmac-sha1; };",
			want: []Key{
				{Name: "up.key.", Algorithm: dns.HmacSHA512, Secret: "YWJj"},
				{Name: "b.", Algorithm: dns.HmacSHA1, Secret: "eHl6"},
			},
		},
		{name: "empty", in: "# nothing\n", wantErr: "no key statement"},
		{name: "md5 refused", in: `key "k" { algorithm hmac-md5; secret "YWJj"; };`, wantErr: "unsupported TSIG algorithm"},
		{name: "bad secret", in: `key "k" { algorithm hmac-sha256; secret "!!"; };`, wantErr: "not base64"},
		{name: "named.conf", in: `options { directory "/tmp"; };`, wantErr: `expected "key"`},
		{name: "unknown field", in: `key "k" { algorithm hmac-sha256; secret "YWJj"; owner x; };`, wantErr: `unknown field "owner"`},
		{name: "truncated", in: `key "k" { algorithm hmac-sha256;`, wantErr: "unexpected end"},
		{name: "unterminated string", in: `key "k`, wantErr: "unterminated quoted string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse() = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("key %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestParseTsigKeygen reads what BIND's own tool writes, for every algorithm we support.
func TestParseTsigKeygen(t *testing.T) {
	bin, err := exec.LookPath("tsig-keygen")
	if err != nil {
		t.Skip("tsig-keygen not installed (Debian package bind9): ", err)
	}
	for _, alg := range []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		out, err := exec.Command(bin, "-a", alg, "k-"+alg).Output()
		if err != nil {
			t.Fatalf("tsig-keygen -a %s: %v", alg, err)
		}
		path := filepath.Join(t.TempDir(), "k.key")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		keys, err := ParseFile(path)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if len(keys) != 1 || keys[0].Name != "k-"+alg+"." || keys[0].Algorithm != alg+"." {
			t.Errorf("%s: got %+v", alg, keys)
		}
	}
}

func TestRingRefusesOtherAlgorithm(t *testing.T) {
	k, err := New("k", "hmac-sha256", "c2VjcmV0")
	if err != nil {
		t.Fatal(err)
	}
	ring := NewRing(k)
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	m.SetTsig("k.", dns.HmacSHA1, 300, 0)
	if _, _, err := dns.TsigGenerateWithProvider(m, ring, "", false); err != dns.ErrKeyAlg {
		t.Fatalf("signing with the wrong algorithm: err = %v, want ErrKeyAlg", err)
	}
	m.Extra = nil
	k.Sign(m)
	wire, _, err := dns.TsigGenerateWithProvider(m, ring, "", false)
	if err != nil {
		t.Fatal(err)
	}
	// Verification rewrites the buffer it is given, so each check gets a copy.
	copyOf := func(b []byte) []byte { return append([]byte(nil), b...) }
	if err := dns.TsigVerifyWithProvider(copyOf(wire), ring, "", false); err != nil {
		t.Fatalf("verify own signature: %v", err)
	}
	other := NewRing(Key{Name: "k.", Algorithm: dns.HmacSHA256, Secret: "b3RoZXI="})
	if err := dns.TsigVerifyWithProvider(copyOf(wire), other, "", false); ErrorCode(err) != dns.RcodeBadSig {
		t.Fatalf("verify with another secret: %v, want BADSIG", err)
	}
	if err := dns.TsigVerifyWithProvider(copyOf(wire), NewRing(), "", false); ErrorCode(err) != dns.RcodeBadKey {
		t.Fatalf("verify with no key: %v, want BADKEY", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("key \"ddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n"))
	f.Add([]byte("/* x */ key a { secret \"YQ==\"; algorithm hmac-sha1; }; # y"))
	f.Add([]byte("key \"unterminated"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := Parse(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if _, err := Algorithm(k.Algorithm); err != nil {
				t.Fatalf("accepted key with algorithm %q", k.Algorithm)
			}
		}
	})
}
