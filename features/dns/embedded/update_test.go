package embedded

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/features/dns/rr"
)

// TestNsupdateClient: BIND's own nsupdate against our server. Signed with the
// configured key it is applied (dig sees it); unsigned it is REFUSED; signed with
// another secret it is NOTAUTH; nothing refused changes the zone.
func TestNsupdateClient(t *testing.T) {
	bindtest.Need(t, "nsupdate", "dig")
	p := started(t, t.TempDir())
	port := p.port(t)
	script := func(name, ip string) string {
		return fmt.Sprintf("server 127.0.0.1 %d\nzone example.test\nupdate add %s 300 A %s\nsend\n", port, name, ip)
	}
	out, err := bindtest.Nsupdate(t, keyFile(t, testKeySecret), script("signed.example.test.", "10.99.0.5")+
		"zone 99.10.in-addr.arpa\nupdate add 5.0.99.10.in-addr.arpa. 300 PTR signed.example.test.\nsend\n")
	if err != nil {
		t.Fatalf("signed nsupdate failed: %v\n%s", err, out)
	}
	if got := bindtest.Dig(t, port, "signed.example.test", "A"); got != "10.99.0.5" {
		t.Errorf("dig after signed update = %q", got)
	}
	if got := bindtest.Dig(t, port, "-x", "10.99.0.5"); got != "signed.example.test." {
		t.Errorf("dig -x after signed update = %q", got)
	}

	out, err = bindtest.Nsupdate(t, "", script("unsigned.example.test.", "10.99.0.6"))
	if err == nil || !strings.Contains(out, "REFUSED") {
		t.Errorf("unsigned nsupdate: err %v, output %q; want REFUSED", err, out)
	}
	otherSecret := "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlci0="
	out, err = bindtest.Nsupdate(t, keyFile(t, otherSecret), script("forged.example.test.", "10.99.0.7"))
	if err == nil || !(strings.Contains(out, "NOTAUTH") || strings.Contains(out, "BADSIG") || strings.Contains(out, "tsig")) {
		t.Errorf("nsupdate with a wrong secret: err %v, output %q; want a TSIG refusal", err, out)
	}
	for _, name := range []string{"unsigned.example.test", "forged.example.test"} {
		if got := bindtest.DigStatus(t, port, name, "A"); got != "NXDOMAIN" {
			t.Errorf("refused update of %s changed the zone: dig status %s", name, got)
		}
	}

	// Deleting through nsupdate works as well, and the API sees it.
	out, err = bindtest.Nsupdate(t, keyFile(t, testKeySecret), fmt.Sprintf("server 127.0.0.1 %d\nupdate delete signed.example.test. A\nsend\n", port))
	if err != nil {
		t.Fatalf("signed delete: %v\n%s", err, out)
	}
	if found, err := p.Lookup(t.Context(), "signed.example.test.", rr.A); err != nil || len(found) != 0 {
		t.Errorf("Lookup after nsupdate delete = %v, %v", found, err)
	}
}

// TestUpdateSemantics drives RFC 2136 rules through the wire with a signed client.
func TestUpdateSemantics(t *testing.T) {
	p := started(t, t.TempDir())
	addr := p.Addr()
	a := func(s string) dns.RR { x, _ := dns.NewRR(s); return x }
	mustCreate(t, p, "h.example.test", rr.A, "10.99.0.1")
	mustCreate(t, p, "alias.example.test", rr.CNAME, "h.example.test.")

	send := func(t *testing.T, prereq, updates []dns.RR, zone string) int {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Answer, m.Ns = prereq, updates
		r, err := signedUpdate(t, addr, m, testKeySecret)
		if r == nil { // miekg reports a NOTAUTH reply as an error, with the reply
			t.Fatalf("update: %v", err)
		}
		return r.Rcode
	}
	none := func(name string, t uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassNONE}}
	}
	anyc := func(name string, t uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassANY}}
	}
	tests := []struct {
		name    string
		zone    string
		prereq  []dns.RR
		updates []dns.RR
		want    int
	}{
		{"rrset must not exist but does", "example.test.", []dns.RR{none("h.example.test.", dns.TypeA)}, []dns.RR{a("h.example.test. 300 IN A 10.99.0.2")}, dns.RcodeYXRrset},
		{"name must be unused but is", "example.test.", []dns.RR{none("h.example.test.", dns.TypeANY)}, nil, dns.RcodeYXDomain},
		{"rrset must exist but does not", "example.test.", []dns.RR{anyc("h.example.test.", dns.TypeAAAA)}, nil, dns.RcodeNXRrset},
		{"name must be used but is not", "example.test.", []dns.RR{anyc("x.example.test.", dns.TypeANY)}, nil, dns.RcodeNameError},
		{"value-dependent mismatch", "example.test.", []dns.RR{a("h.example.test. 0 IN A 10.99.0.9")}, nil, dns.RcodeNXRrset},
		{"value-dependent match", "example.test.", []dns.RR{a("h.example.test. 0 IN A 10.99.0.1")}, nil, dns.RcodeSuccess},
		{"prerequisite with a TTL", "example.test.", []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "h.example.test.", Rrtype: dns.TypeA, Class: dns.ClassANY, Ttl: 5}}}, nil, dns.RcodeFormatError},
		{"name outside the zone", "example.test.", nil, []dns.RR{a("h.example.org. 300 IN A 10.0.0.1")}, dns.RcodeNotZone},
		{"zone we do not serve", "example.org.", nil, []dns.RR{a("h.example.org. 300 IN A 10.0.0.1")}, dns.RcodeNotAuth},
		{"type we do not store", "example.test.", nil, []dns.RR{a("h.example.test. 300 IN TXT \"x\"")}, dns.RcodeRefused},
		{"SOA is configuration", "example.test.", nil, []dns.RR{a("example.test. 300 IN SOA a. b. 9 1 1 1 1")}, dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := send(t, tt.prereq, tt.updates, tt.zone); got != tt.want {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[got], dns.RcodeToString[tt.want])
			}
		})
	}
	if r := query(t, addr, "udp", "h.example.test.", dns.TypeA, false); len(r.Answer) != 1 || rdata(r.Answer[0]) != "10.99.0.1" {
		t.Fatalf("failed updates changed h: %v", r.Answer)
	}

	// A CNAME does not join other data, nor other data a CNAME (ignored, NOERROR).
	if got := send(t, nil, []dns.RR{a("h.example.test. 300 IN CNAME x.example.test.")}, "example.test."); got != dns.RcodeSuccess {
		t.Errorf("CNAME beside A: %s", dns.RcodeToString[got])
	}
	if got := send(t, nil, []dns.RR{a("alias.example.test. 300 IN A 10.99.0.3")}, "example.test."); got != dns.RcodeSuccess {
		t.Errorf("A beside CNAME: %s", dns.RcodeToString[got])
	}
	if r := query(t, addr, "udp", "h.example.test.", dns.TypeCNAME, false); len(r.Answer) != 0 {
		t.Errorf("CNAME was added beside an A: %v", r.Answer)
	}
	if r := query(t, addr, "udp", "alias.example.test.", dns.TypeCNAME, false); len(r.Answer) != 1 {
		t.Errorf("alias lost its CNAME: %v", r.Answer)
	}

	// Several changes in one message apply in order and bump the serial once.
	before := query(t, addr, "udp", "example.test.", dns.TypeSOA, false).Answer[0].(*dns.SOA).Serial
	rc := send(t, nil, []dns.RR{
		anyc("h.example.test.", dns.TypeA),
		a("h.example.test. 600 IN A 10.99.0.8"),
		a("h.example.test. 600 IN A 10.99.0.9"),
		&dns.A{Hdr: dns.RR_Header{Name: "h.example.test.", Rrtype: dns.TypeA, Class: dns.ClassNONE}, A: a("x. 1 IN A 10.99.0.8").(*dns.A).A},
	}, "example.test.")
	r := query(t, addr, "udp", "h.example.test.", dns.TypeA, false)
	if rc != dns.RcodeSuccess || len(r.Answer) != 1 || rdata(r.Answer[0]) != "10.99.0.9" || r.Answer[0].Header().Ttl != 600 {
		t.Errorf("multi-change update: rcode %s, answer %v; want only 10.99.0.9 with TTL 600", dns.RcodeToString[rc], r.Answer)
	}
	after := query(t, addr, "udp", "example.test.", dns.TypeSOA, false).Answer[0].(*dns.SOA).Serial
	if after != before+1 {
		t.Errorf("serial %d -> %d, want one step", before, after)
	}
}
