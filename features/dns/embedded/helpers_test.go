package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// testKey is the TSIG key test servers accept, also written as a BIND key file.
const (
	testKeyName   = "ddns-key"
	testKeySecret = "8J3ZdBqA/8ZXfOJ7a2yqoBmWGv1lwGfI9x6bJZ2n0pQ="
)

func testLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	if !testing.Verbose() {
		l.SetLevel(logrus.WarnLevel)
	}
	return logrus.NewEntry(l)
}

// keyFile writes the test key in BIND syntax (what tsig-keygen prints).
func keyFile(t testing.TB, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ddns.key")
	content := fmt.Sprintf("key \"%s\" {\n\talgorithm hmac-sha256;\n\tsecret \"%s\";\n};\n", testKeyName, secret)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configured returns a provider for example.test and 99.10.in-addr.arpa on a free
// loopback port, keeping records in stateDir, signed updates with the test key.
func configured(t testing.TB, stateDir string) (*Provider, error) {
	t.Helper()
	return configuredOn(t, stateDir, "127.0.0.1:0")
}

func configuredOn(t testing.TB, stateDir, listen string) (*Provider, error) {
	t.Helper()
	values := map[string]any{
		"listen":    listen,
		"state_dir": stateDir,
		"zones": []any{
			map[string]any{"name": "example.test", "ns": []any{"ns1.example.test"}, "ttl": 300},
			"99.10.in-addr.arpa",
		},
		"tsig_keys": []any{keyFile(t, testKeySecret)},
	}
	sec := settings.NewSection("dns_embedded.yml", values)
	p := New()
	err := p.Configure(&registry.Env{Global: &settings.Global{}, Settings: sec, Log: testLog()})
	return p, errors.Join(err, sec.Err())
}

// started starts a provider and stops it when the test ends.
func started(t testing.TB, stateDir string) *Provider {
	t.Helper()
	p, err := configured(t, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return p
}

func (p *Provider) port(t testing.TB) int {
	_, port, err := net.SplitHostPort(p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}

func mustCreate(t testing.TB, p *Provider, name string, typ rr.Type, value string) {
	t.Helper()
	if err := p.Create(context.Background(), rr.Record{Name: dns.Fqdn(name), Type: typ, Value: value, TTL: 300}); err != nil {
		t.Fatalf("Create(%s %s %s): %v", name, typ, value, err)
	}
}

// query asks the server one question.
func query(t testing.TB, addr, network, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(4096, false)
	}
	c := &dns.Client{Net: network, Timeout: 10 * time.Second} // late on a loaded machine, not lost
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// signedUpdate sends an update signed with secret under the test key name.
func signedUpdate(t testing.TB, addr string, m *dns.Msg, secret string) (*dns.Msg, error) {
	t.Helper()
	m.SetTsig(testKeyName+".", dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Timeout: 10 * time.Second, TsigSecret: map[string]string{testKeyName + ".": secret}}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// startedOnEtcd starts a provider keeping its zones in the cluster under prefix.
func startedOnEtcd(tb testing.TB, c *etcdtest.Cluster, prefix string) *Provider {
	tb.Helper()
	var endpoints []any
	for _, e := range c.Endpoints() {
		endpoints = append(endpoints, e)
	}
	values := map[string]any{
		"listen":         "127.0.0.1:0",
		"zones":          []any{"example.test", "99.10.in-addr.arpa"},
		"state_backend":  "etcd",
		"etcd_endpoints": endpoints,
		"etcd_ca":        c.CA.CAFile,
		"etcd_cert":      c.Client.CertFile,
		"etcd_key":       c.Client.KeyFile,
		"etcd_prefix":    prefix,
	}
	sec := settings.NewSection("dns_embedded.yml", values)
	p := New()
	if err := errors.Join(p.Configure(&registry.Env{Global: &settings.Global{}, Settings: sec, Log: testLog()}), sec.Err()); err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop(context.Background()) })
	return p
}
