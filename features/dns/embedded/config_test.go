package embedded

import (
	"errors"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/settings"
)

func TestParseConfig(t *testing.T) {
	key := keyFile(t, testKeySecret)
	tests := []struct {
		name    string
		yaml    string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{
			name: "short form",
			yaml: ":state_dir: /var/lib/dns\n:zones: [example.test, 99.10.in-addr.arpa]\n",
			check: func(t *testing.T, c config) {
				if c.listen != defaultListen || len(c.zones) != 2 || len(c.keys) != 0 {
					t.Fatalf("config %+v", c)
				}
				z := c.zones[0]
				if z.name != "example.test." || z.ns[0] != "ns1.example.test." || z.hostmaster != "hostmaster.example.test." || z.ttl != 3600 {
					t.Errorf("defaults not filled in: %+v", z)
				}
			},
		},
		{
			name: "long form and keys",
			yaml: ":listen: 127.0.0.1:5300\n:state_dir: state\n:zones:\n  - :name: Example.Test\n    :ns: [a.example.test, b.example.net]\n    :hostmaster: admin@example.test\n    :ttl: 600\n" +
				":tsig_keys:\n  - " + key + "\n  - :name: other\n    :algorithm: hmac-sha512\n    :secret: YWJj\n",
			check: func(t *testing.T, c config) {
				z := c.zones[0]
				if z.name != "example.test." || len(z.ns) != 2 || z.ns[1] != "b.example.net." || z.hostmaster != "admin.example.test." || z.ttl != 600 {
					t.Errorf("zone %+v", z)
				}
				if !strings.HasSuffix(c.stateDir, "/settings.d/state") {
					t.Errorf("relative state_dir %q not resolved against the settings file", c.stateDir)
				}
				if len(c.keys) != 2 || c.keys[0].Name != "ddns-key." || c.keys[1].Name != "other." {
					t.Errorf("keys %+v", c.keys)
				}
			},
		},
		{name: "no state dir", yaml: ":zones: [example.test]\n", wantErr: ":state_dir: is required"},
		{name: "no zones", yaml: ":state_dir: /x\n", wantErr: ":zones: must list at least one zone"},
		{name: "bad listen", yaml: ":listen: 5300\n:state_dir: /x\n:zones: [example.test]\n", wantErr: ":listen: must be address:port"},
		{name: "zone twice", yaml: ":state_dir: /x\n:zones: [example.test, EXAMPLE.test.]\n", wantErr: "listed twice"},
		{name: "bad zone name", yaml: ":state_dir: /x\n:zones: ['bad..name']\n", wantErr: "not a domain name"},
		{name: "bad zone ttl", yaml: ":state_dir: /x\n:zones:\n  - :name: a.test\n    :ttl: -1\n", wantErr: ":ttl: must be between 1"},
		{name: "bad key file", yaml: ":state_dir: /x\n:zones: [a.test]\n:tsig_keys: [/nonexistent.key]\n", wantErr: "no such file"},
		{name: "bad inline key", yaml: ":state_dir: /x\n:zones: [a.test]\n:tsig_keys:\n  - :name: k\n    :algorithm: hmac-md5\n    :secret: YWJj\n", wantErr: "unsupported TSIG algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := settings.Parse("/etc/foreman-proxy/settings.d/dns_embedded.yml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			c := parseConfig(s)
			err = errors.Join(s.Err())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}
