package dns

import (
	"strings"
	"testing"
)

// TestReverseNameAndValueRefusals: reverse names that name no single address, and
// values and names a client should never send, are refused with 400 before any
// server is asked (issue 15 item 4). The proxy's DNS server does not answer, so a
// request that slipped through would fail with a connection error instead.
func TestReverseNameAndValueRefusals(t *testing.T) {
	p := unreachableProxy(t)
	const v4Rule = ": an in-addr.arpa name is 4 labels, each a decimal octet 0-255"
	const v6Rule = ": an ip6.arpa name is 32 labels, each one hex digit"
	nibbles := strings.Repeat("1.", 31) + "2" // 32 nibbles
	tests := []struct {
		name, method, path string
		fqdn, value, typ   string
		want               string
	}{
		{"5 labels under in-addr.arpa", "POST", "/dns/", "h.example.test", "5.4.3.2.1.in-addr.arpa", "PTR", "Invalid reverse DNS 5.4.3.2.1.in-addr.arpa" + v4Rule},
		{"3 labels under in-addr.arpa", "POST", "/dns/", "h.example.test", "2.0.192.in-addr.arpa", "PTR", "Invalid reverse DNS 2.0.192.in-addr.arpa" + v4Rule},
		{"octet over 255", "POST", "/dns/", "h.example.test", "256.2.0.192.in-addr.arpa", "PTR", "Invalid reverse DNS 256.2.0.192.in-addr.arpa" + v4Rule},
		{"octet with leading zero", "POST", "/dns/", "h.example.test", "01.2.0.192.in-addr.arpa", "PTR", "Invalid reverse DNS 01.2.0.192.in-addr.arpa" + v4Rule},
		{"octet not a number", "POST", "/dns/", "h.example.test", "a.2.0.192.in-addr.arpa", "PTR", "Invalid reverse DNS a.2.0.192.in-addr.arpa" + v4Rule},
		{"RFC 2317 style label", "POST", "/dns/", "h.example.test", "10.0-25.2.0.192.in-addr.arpa", "PTR", "Invalid reverse DNS 10.0-25.2.0.192.in-addr.arpa" + v4Rule},
		{"31 nibbles", "POST", "/dns/", "h.example.test", strings.Repeat("1.", 31) + "ip6.arpa", "PTR", "Invalid reverse DNS " + strings.Repeat("1.", 31) + "ip6.arpa" + v6Rule},
		{"33 nibbles", "POST", "/dns/", "h.example.test", "0." + nibbles + ".ip6.arpa", "PTR", "Invalid reverse DNS 0." + nibbles + ".ip6.arpa" + v6Rule},
		{"two-digit nibble", "POST", "/dns/", "h.example.test", "10." + strings.Repeat("1.", 31) + "ip6.arpa", "PTR", "Invalid reverse DNS 10." + strings.Repeat("1.", 31) + "ip6.arpa" + v6Rule},
		{"nibble not hex", "POST", "/dns/", "h.example.test", "g." + strings.Repeat("1.", 31) + "ip6.arpa", "PTR", "Invalid reverse DNS g." + strings.Repeat("1.", 31) + "ip6.arpa" + v6Rule},
		{"delete 5-label reverse name", "DELETE", "/dns/5.4.3.2.1.in-addr.arpa", "", "", "", "Invalid reverse DNS 5.4.3.2.1.in-addr.arpa" + v4Rule},
		{"delete PTR with octet 300", "DELETE", "/dns/300.2.0.192.in-addr.arpa/PTR", "", "", "", "Invalid reverse DNS 300.2.0.192.in-addr.arpa" + v4Rule},
		{"fqdn with newline", "POST", "/dns/", "x\n.example.test", "192.0.2.1", "A", `Invalid DNS name x\n.example.test`},
		{"fqdn of 70,000 bytes", "POST", "/dns/", strings.Repeat("a", 70000), "192.0.2.1", "A", "Invalid DNS name " + strings.Repeat("a", 64) + "... (70000 bytes)"},
		{"A value with NUL", "POST", "/dns/", "h.example.test", "192.0.2.1\x00", "A", `invalid address: 192.0.2.1\x00`},
		{"A value with zone", "POST", "/dns/", "h.example.test", "192.0.2.1%eth0", "A", "invalid address: 192.0.2.1%eth0"},
		{"A value IPv4-mapped IPv6", "POST", "/dns/", "h.example.test", "::ffff:192.0.2.1", "A", "address family mismatch: ::ffff:192.0.2.1"},
		{"AAAA value with leading zeros IPv4", "POST", "/dns/", "h.example.test", "192.000.2.1", "AAAA", "invalid address: 192.000.2.1"},
		{"type with newline", "POST", "/dns/", "h.example.test", "192.0.2.1", "A\nB", `unrecognized 'type' parameter: A\nB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f map[string][]string
			if tt.method == "POST" {
				f = form("fqdn", tt.fqdn, "value", tt.value, "type", tt.typ)
			}
			got := p.Do(t, tt.method, tt.path, f)
			if got.Status != 400 || got.Body != tt.want {
				t.Errorf("%s %s %v = %d %q, want 400 %q", tt.method, tt.path, f, got.Status, got.Body, tt.want)
			}
		})
	}
}

// TestReverseNamesForemanSends pass validation and reach the provider (which, not
// answering, fails with 400 naming its address).
func TestReverseNamesForemanSends(t *testing.T) {
	p := unreachableProxy(t)
	for _, name := range []string{
		"10.2.0.192.in-addr.arpa",
		"0.0.0.0.in-addr.arpa",
		"255.255.255.255.IN-ADDR.ARPA.",
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa",
		"B.A.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.",
	} {
		got := p.Do(t, "POST", "/dns/", form("fqdn", "h.example.test", "value", name, "type", "PTR"))
		if got.Status != 400 || !strings.Contains(got.Body, "127.0.0.1:9") {
			t.Errorf("PTR %s = %d %q, want it to reach the (unreachable) server", name, got.Status, got.Body)
		}
	}
}
