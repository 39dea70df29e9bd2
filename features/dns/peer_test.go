package dns

import (
	"net/url"
	"strings"
	"testing"

	miekg "github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// peer is a proxy whose dns provider serves zones example.test and
// 99.10.in-addr.arpa on 127.0.0.1:port, with :dns_ttl: 300.
type peer struct {
	proxy *proxytest.Proxy
	port  int
	addr  string
}

// expect sends a request and checks status and body.
func (p peer) expect(t *testing.T, method, path string, f map[string]string, wantStatus int, wantBody string) {
	t.Helper()
	var values url.Values // nil: no body
	if f != nil {
		values = url.Values{}
		for k, v := range f {
			values.Set(k, v)
		}
	}
	got := p.proxy.Do(t, method, path, values)
	if got.Status != wantStatus || got.Body != wantBody {
		t.Fatalf("%s %s %v = %d %q, want %d %q", method, path, f, got.Status, got.Body, wantStatus, wantBody)
	}
}

func (p peer) dig(t *testing.T, args ...string) string {
	t.Helper()
	return bindtest.Dig(t, p.port, args...)
}

// runRecordSuite is the peer scenario, for any provider: create every type
// through the API and see it with dig, repeat and conflict, delete.
func runRecordSuite(t *testing.T, p peer) {
	create := func(fqdn, value, typ string) map[string]string {
		return map[string]string{"fqdn": fqdn, "value": value, "type": typ}
	}
	// Create each type; dig sees it.
	p.expect(t, "POST", "/dns/", create("host1.example.test", "10.99.0.42", "A"), 200, "")
	p.expect(t, "POST", "/dns/", create("host1.example.test", "2001:0DB8:0:0:0:0:0:0042", "aaaa"), 200, "")
	p.expect(t, "POST", "/dns/", create("host1.example.test", "42.0.99.10.in-addr.arpa", "PTR"), 200, "")
	p.expect(t, "POST", "/dns/", create("alias.example.test", "host1.example.test", "CNAME"), 200, "")
	p.expect(t, "POST", "/dns/", create("_ldap._tcp.example.test", "0 5 389 host1.example.test", "SRV"), 200, "")
	p.expect(t, "POST", "/dns/", create("_ldap._tcp.example.test", "1 5 389 host2.example.test", "SRV"), 200, "")
	checks := []struct{ name, typ, want string }{
		{"host1.example.test", "A", "10.99.0.42"},
		{"host1.example.test", "AAAA", "2001:db8::42"},
		{"42.0.99.10.in-addr.arpa", "PTR", "host1.example.test."},
		{"alias.example.test", "CNAME", "host1.example.test."},
	}
	for _, c := range checks {
		if got := p.dig(t, c.name, c.typ); got != c.want {
			t.Errorf("dig %s %s = %q, want %q", c.name, c.typ, got, c.want)
		}
	}
	if got := p.dig(t, "-x", "10.99.0.42"); got != "host1.example.test." {
		t.Errorf("dig -x 10.99.0.42 = %q", got)
	}
	if got := p.dig(t, "_ldap._tcp.example.test", "SRV"); !strings.Contains(got, "0 5 389 host1.example.test.") || !strings.Contains(got, "1 5 389 host2.example.test.") {
		t.Errorf("dig SRV = %q, want both SRV records", got)
	}
	// The record carries :dns_ttl:.
	if r, err := bindtest.Query(p.addr, "host1.example.test", miekg.TypeA); err != nil || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 300 {
		t.Errorf("A record TTL: answer %v, err %v; want one record with TTL 300", r, err)
	}

	// Repeating a create with the same value (however written) is a no-op.
	p.expect(t, "POST", "/dns/", create("HOST1.example.test.", "10.99.0.42", "A"), 200, "")
	p.expect(t, "POST", "/dns/", create("host1.example.test", "2001:db8:0::42", "AAAA"), 200, "")
	p.expect(t, "POST", "/dns/", create("Host1.Example.Test", "42.0.99.10.in-addr.arpa", "PTR"), 200, "")
	p.expect(t, "POST", "/dns/", create("alias.example.test", "HOST1.example.test.", "CNAME"), 200, "")
	if got := p.dig(t, "host1.example.test", "A"); got != "10.99.0.42" {
		t.Errorf("after repeated create: dig A = %q, want one address", got)
	}

	// Another value is a conflict, and the server keeps what it had.
	p.expect(t, "POST", "/dns/", create("host1.example.test", "10.99.0.43", "A"), 409, "'host1.example.test 'is already in use")
	p.expect(t, "POST", "/dns/", create("host1.example.test", "2001:db8::43", "AAAA"), 409, "'host1.example.test 'is already in use")
	p.expect(t, "POST", "/dns/", create("host2.example.test", "42.0.99.10.in-addr.arpa", "PTR"), 409, "'42.0.99.10.in-addr.arpa 'is already in use")
	p.expect(t, "POST", "/dns/", create("alias.example.test", "host2.example.test", "CNAME"), 409, "'alias.example.test 'is already in use")
	p.expect(t, "POST", "/dns/", create("alias.example.test", "10.99.0.50", "A"), 409, "'alias.example.test 'is already in use")
	if got := p.dig(t, "host1.example.test", "A"); got != "10.99.0.42" {
		t.Errorf("after conflicting create: dig A = %q, want 10.99.0.42 only", got)
	}
	if got := p.dig(t, "-x", "10.99.0.42"); got != "host1.example.test." {
		t.Errorf("after conflicting PTR: dig -x = %q", got)
	}

	// Delete: the type is inferred (A, or PTR for reverse names) or given.
	p.expect(t, "DELETE", "/dns/host1.example.test", nil, 200, "")
	if got := p.dig(t, "host1.example.test", "A"); got != "" {
		t.Errorf("after delete: dig A = %q", got)
	}
	if got := p.dig(t, "host1.example.test", "AAAA"); got != "2001:db8::42" {
		t.Errorf("deleting A removed AAAA too: %q", got)
	}
	p.expect(t, "DELETE", "/dns/host1.example.test/AAAA", nil, 200, "")
	p.expect(t, "DELETE", "/dns/42.0.99.10.in-addr.arpa", nil, 200, "")
	p.expect(t, "DELETE", "/dns/alias.example.test/CNAME", nil, 200, "")
	p.expect(t, "DELETE", "/dns/_ldap._tcp.example.test/SRV", nil, 200, "")
	for _, c := range append(checks, struct{ name, typ, want string }{"_ldap._tcp.example.test", "SRV", ""}) {
		if got := p.dig(t, c.name, c.typ); got != "" {
			t.Errorf("after delete: dig %s %s = %q", c.name, c.typ, got)
		}
	}
	// Deleting again is fine; the name is free for a new value.
	p.expect(t, "DELETE", "/dns/host1.example.test/A", nil, 200, "")
	p.expect(t, "POST", "/dns/", create("host1.example.test", "10.99.0.43", "A"), 200, "")
	if got := p.dig(t, "host1.example.test", "A"); got != "10.99.0.43" {
		t.Errorf("re-create after delete: dig A = %q", got)
	}
}

func startNsupdateProxy(t *testing.T, named *bindtest.Named, keyFile string) peer {
	t.Helper()
	px := proxytest.Start(t, ":dns_resolv_timeouts: [2, 2]\n", map[string]string{
		"dns.yml":          ":enabled: true\n:dns_ttl: 300\n",
		"dns_nsupdate.yml": ":dns_server: " + named.Addr + "\n:dns_key: " + keyFile + "\n",
	}, New())
	if s := px.State("dns"); s != "running" {
		t.Fatalf("dns state = %s", s)
	}
	return peer{proxy: px, port: named.Port, addr: named.Addr}
}

func TestNsupdateAgainstBIND(t *testing.T) {
	named := bindtest.StartNamed(t, "example.test", "99.10.in-addr.arpa")
	runRecordSuite(t, startNsupdateProxy(t, named, named.KeyFile))
}

func TestNsupdateWrongKey(t *testing.T) {
	named := bindtest.StartNamed(t, "example.test", "99.10.in-addr.arpa")
	p := startNsupdateProxy(t, named, bindtest.OtherKey(t))
	got := p.proxy.Do(t, "POST", "/dns/", form("fqdn", "denied.example.test", "value", "10.99.0.7", "type", "A"))
	if got.Status != 400 || !strings.Contains(got.Body, "NOTAUTH") {
		t.Errorf("create with a wrong key = %d %q, want 400 with the server's NOTAUTH", got.Status, got.Body)
	}
	got = p.proxy.Do(t, "DELETE", "/dns/ns1.example.test", nil)
	if got.Status != 400 || !strings.Contains(got.Body, "NOTAUTH") {
		t.Errorf("delete with a wrong key = %d %q, want 400 with the server's NOTAUTH", got.Status, got.Body)
	}
	if s := p.dig(t, "denied.example.test", "A"); s != "" {
		t.Errorf("refused create changed BIND: %q", s)
	}
	if s := p.dig(t, "ns1.example.test", "A"); s != "127.0.0.1" {
		t.Errorf("refused delete changed BIND: %q", s)
	}
}
