package embedded

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/metrics"
)

func rcode(m *dns.Msg) string { return dns.RcodeToString[m.Rcode] }

// rdata is a record's data as presented in a zone file.
func rdata(x dns.RR) string { return strings.Join(strings.Fields(x.String())[4:], " ") }

func TestAnswers(t *testing.T) {
	p := started(t, t.TempDir())
	addr := p.Addr()
	mustCreate(t, p, "ns1.example.test", rr.A, "127.0.0.1")
	mustCreate(t, p, "host1.example.test", rr.A, "10.99.0.42")
	mustCreate(t, p, "host1.example.test", rr.AAAA, "2001:db8::42")
	mustCreate(t, p, "alias.example.test", rr.CNAME, "host1.example.test.")
	mustCreate(t, p, "far.example.test", rr.CNAME, "www.elsewhere.test.")
	mustCreate(t, p, "42.0.99.10.in-addr.arpa", rr.PTR, "host1.example.test.")
	mustCreate(t, p, "_ldap._tcp.example.test", rr.SRV, "0 5 389 host1.example.test.")

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     string
		answer    []string // prefixes of the records' data, in order
		authority string   // type of the authority record, if any
		extra     int      // glue records expected
	}{
		{"apex SOA", "example.test.", dns.TypeSOA, "NOERROR", []string{"ns1.example.test. hostmaster.example.test."}, "", 0},
		{"apex NS with glue", "example.test.", dns.TypeNS, "NOERROR", []string{"ns1.example.test."}, "", 1},
		{"A", "host1.example.test.", dns.TypeA, "NOERROR", []string{"10.99.0.42"}, "", 0},
		{"AAAA", "host1.example.test.", dns.TypeAAAA, "NOERROR", []string{"2001:db8::42"}, "", 0},
		{"PTR", "42.0.99.10.in-addr.arpa.", dns.TypePTR, "NOERROR", []string{"host1.example.test."}, "", 0},
		{"SRV with glue", "_ldap._tcp.example.test.", dns.TypeSRV, "NOERROR", []string{"0 5 389 host1.example.test."}, "", 2},
		{"CNAME asked", "alias.example.test.", dns.TypeCNAME, "NOERROR", []string{"host1.example.test."}, "", 0},
		{"CNAME followed in zone", "alias.example.test.", dns.TypeA, "NOERROR", []string{"host1.example.test.", "10.99.0.42"}, "", 0},
		{"CNAME leaving the zone", "far.example.test.", dns.TypeA, "NOERROR", []string{"www.elsewhere.test."}, "", 0},
		{"NODATA", "host1.example.test.", dns.TypeSRV, "NOERROR", nil, "SOA", 0},
		{"empty non-terminal", "_tcp.example.test.", dns.TypeA, "NOERROR", nil, "SOA", 0},
		{"reverse empty non-terminal", "0.99.10.in-addr.arpa.", dns.TypePTR, "NOERROR", nil, "SOA", 0},
		{"NXDOMAIN", "nobody.example.test.", dns.TypeA, "NXDOMAIN", nil, "SOA", 0},
		{"NXDOMAIN reverse", "43.0.99.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN", nil, "SOA", 0},
		{"outside our zones", "www.example.org.", dns.TypeA, "REFUSED", nil, "", 0},
		{"parent of a zone", "test.", dns.TypeSOA, "REFUSED", nil, "", 0},
		{"no zone transfer", "example.test.", dns.TypeAXFR, "REFUSED", nil, "", 0},
		{"case kept", "HOST1.Example.TEST.", dns.TypeA, "NOERROR", []string{"10.99.0.42"}, "", 0},
		{"ANY", "host1.example.test.", dns.TypeANY, "NOERROR", []string{"10.99.0.42", "2001:db8::42"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				r := query(t, addr, network, tt.qname, tt.qtype, false)
				if rcode(r) != tt.rcode {
					t.Fatalf("%s: rcode %s, want %s\n%v", network, rcode(r), tt.rcode, r)
				}
				if r.Authoritative != (tt.rcode != "REFUSED") {
					t.Errorf("%s: AA = %v", network, r.Authoritative)
				}
				if len(r.Answer) != len(tt.answer) {
					t.Fatalf("%s: answer %v, want %q", network, r.Answer, tt.answer)
				}
				for i, x := range r.Answer {
					if !strings.HasPrefix(rdata(x), tt.answer[i]) {
						t.Errorf("%s: answer %d is %q, want %q", network, i, rdata(x), tt.answer[i])
					}
				}
				if len(r.Answer) > 0 && r.Answer[0].Header().Name != tt.qname {
					t.Errorf("%s: answer owner %q, want the question's %q", network, r.Answer[0].Header().Name, tt.qname)
				}
				gotAuth := ""
				if len(r.Ns) == 1 {
					gotAuth = dns.TypeToString[r.Ns[0].Header().Rrtype]
				}
				if gotAuth != tt.authority || len(r.Ns) > 1 {
					t.Errorf("%s: authority %v, want one %s", network, r.Ns, tt.authority)
				}
				if len(r.Extra) != tt.extra {
					t.Errorf("%s: %d additional records %v, want %d", network, len(r.Extra), r.Extra, tt.extra)
				}
			}
		})
	}
}

func TestTruncationAndEDNS(t *testing.T) {
	p := started(t, t.TempDir())
	for i := 1; i <= 60; i++ {
		mustCreate(t, p, "many.example.test", rr.SRV, fmt.Sprintf("0 0 %d host%d.example.test.", i, i))
	}
	udp := query(t, p.Addr(), "udp", "many.example.test.", dns.TypeSRV, false)
	udp.Compress = true // Len then counts as the server packed it
	if !udp.Truncated || udp.Len() > 512 {
		t.Errorf("60 SRV records over plain UDP: TC=%v, %d bytes; want truncated to 512", udp.Truncated, udp.Len())
	}
	withEDNS := query(t, p.Addr(), "udp", "many.example.test.", dns.TypeSRV, true)
	if !withEDNS.Truncated || withEDNS.IsEdns0() == nil || withEDNS.IsEdns0().UDPSize() != advertisedUDPSize {
		t.Errorf("with EDNS 4096: TC=%v, OPT %v; want truncated at our %d and our OPT", withEDNS.Truncated, withEDNS.IsEdns0(), advertisedUDPSize)
	}
	tcp := query(t, p.Addr(), "tcp", "many.example.test.", dns.TypeSRV, false)
	if tcp.Truncated || len(tcp.Answer) != 60 {
		t.Errorf("over TCP: TC=%v with %d records, want all 60", tcp.Truncated, len(tcp.Answer))
	}

	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r, err := dns.Exchange(m, p.Addr())
	if err != nil || r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %v, err %v; want BADVERS", r, err)
	}
	n := new(dns.Msg)
	n.SetNotify("example.test.")
	r, err = dns.Exchange(n, p.Addr())
	if err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %v, %v; want NOTIMP", r, err)
	}
}

// TestCacheFollowsChanges: answers are cached, and a change is visible at once.
func TestCacheFollowsChanges(t *testing.T) {
	p := started(t, t.TempDir())
	mustCreate(t, p, "c.example.test", rr.A, "10.99.0.1")
	for i := 0; i < 3; i++ {
		if r := query(t, p.Addr(), "udp", "c.example.test.", dns.TypeA, false); len(r.Answer) != 1 {
			t.Fatalf("query %d: %v", i, r)
		}
	}
	if s := p.handler.Stats(); s.Cached < 2 {
		t.Errorf("stats %+v: repeated queries were not answered from the cache", s)
	}
	var page strings.Builder
	p.WriteMetrics(metrics.NewWriter(&page))
	if !strings.Contains(page.String(), "smartproxy_dns_embedded_queries_total 3\n") {
		t.Errorf("metrics page does not count the 3 queries:\n%s", page.String())
	}
	if err := p.Delete(t.Context(), "c.example.test.", rr.A); err != nil {
		t.Fatal(err)
	}
	if r := query(t, p.Addr(), "udp", "c.example.test.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("after delete: %v, want NXDOMAIN", r)
	}
	mustCreate(t, p, "c.example.test", rr.A, "10.99.0.2")
	if r := query(t, p.Addr(), "udp", "c.example.test.", dns.TypeA, false); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.99.0.2" {
		t.Errorf("after re-create: %v", r)
	}
	soa := query(t, p.Addr(), "udp", "example.test.", dns.TypeSOA, false).Answer[0].(*dns.SOA)
	if soa.Serial != 4 {
		t.Errorf("SOA serial %d after three changes, want 4", soa.Serial)
	}
}

// TestWildcardListenRepliesFromTheAddressAsked: bound to every address, the server
// must answer from the address the query went to, or a connected client drops it.
func TestWildcardListenRepliesFromTheAddressAsked(t *testing.T) {
	p, err := configuredOn(t, t.TempDir(), "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	mustCreate(t, p, "w.example.test", rr.A, "10.99.0.7")
	port := p.port(t)
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		r := query(t, fmt.Sprintf("%s:%d", ip, port), "udp", "w.example.test.", dns.TypeA, false)
		if len(r.Answer) != 1 {
			t.Errorf("asked at %s: %v", ip, r)
		}
	}
}
