package rr

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
)

func TestRecordWireRoundTrip(t *testing.T) {
	for _, rec := range []Record{
		{Name: "h.example.test.", Type: A, Value: "10.0.0.1", TTL: 300},
		{Name: "h.example.test.", Type: AAAA, Value: "2001:db8::1", TTL: 300},
		{Name: "a.example.test.", Type: CNAME, Value: "h.example.test.", TTL: 300},
		{Name: "1.0.0.10.in-addr.arpa.", Type: PTR, Value: "h.example.test.", TTL: 300},
		{Name: "_x._tcp.example.test.", Type: SRV, Value: "0 5 389 h.example.test.", TTL: 300},
	} {
		x, err := rec.RR()
		if err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		back, ok := FromRR(x)
		if !ok || back != rec {
			t.Errorf("round trip of %s gave %s (%v)", rec, back, ok)
		}
	}
	for _, bad := range []Record{
		{Name: "h.", Type: A, Value: "2001:db8::1"},
		{Name: "h.", Type: AAAA, Value: "10.0.0.1"},
		{Name: "h.", Type: SRV, Value: "0 5 h."},
		{Name: "h.", Type: SRV, Value: "0 5 70000 h."},
		{Name: "h.", Type: "TXT", Value: "x"},
	} {
		if _, err := bad.RR(); err == nil {
			t.Errorf("%s converted without error", bad)
		}
	}
}

func TestSameValue(t *testing.T) {
	tests := []struct {
		t    Type
		a, b string
		want bool
	}{
		{A, "10.0.0.1", "10.0.0.1", true},
		{A, "10.0.0.1", "10.0.0.2", false},
		{AAAA, "2001:DB8:0::1", "2001:db8::1", true},
		{CNAME, "Host.Example.test.", "host.example.test", true},
		{PTR, "a.example.test", "b.example.test", false},
		{SRV, "0 5 389 H.example.test", "0 5 389 h.example.test.", true},
		{SRV, "0 5 389 h.example.test", "1 5 389 h.example.test", false},
		{A, "garbage", "garbage", false},
	}
	for _, tt := range tests {
		if got := SameValue(tt.t, tt.a, tt.b); got != tt.want {
			t.Errorf("SameValue(%s, %q, %q) = %v, want %v", tt.t, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAddMessagePrerequisites(t *testing.T) {
	m, err := AddMessage("example.test", Record{Name: "h.example.test.", Type: A, Value: "10.0.0.1", TTL: 300})
	if err != nil {
		t.Fatal(err)
	}
	if m.Question[0].Name != "example.test." || len(m.Ns) != 1 || len(m.Answer) != 2 {
		t.Fatalf("A add: zone %v, %d updates, %d prerequisites", m.Question, len(m.Ns), len(m.Answer))
	}
	for i, want := range []uint16{dns.TypeA, dns.TypeCNAME} {
		h := m.Answer[i].Header()
		if h.Class != dns.ClassNONE || h.Rrtype != want {
			t.Errorf("prerequisite %d: class %d type %d, want NONE %s (RRset must not exist)", i, h.Class, h.Rrtype, dns.TypeToString[want])
		}
	}
	m, _ = AddMessage("example.test", Record{Name: "c.example.test.", Type: CNAME, Value: "h.example.test.", TTL: 300})
	if len(m.Answer) != 1 || m.Answer[0].Header().Rrtype != dns.TypeANY || m.Answer[0].Header().Class != dns.ClassNONE {
		t.Errorf("CNAME add prerequisites %v, want name-not-in-use", m.Answer)
	}
	m, _ = AddMessage("example.test", Record{Name: "_s._tcp.example.test.", Type: SRV, Value: "0 0 1 h.example.test.", TTL: 300})
	if len(m.Answer) != 0 {
		t.Errorf("SRV add has prerequisites %v", m.Answer)
	}
}

func TestCheckReply(t *testing.T) {
	reply := func(rcode int) *dns.Msg { m := new(dns.Msg); m.Rcode = rcode; return m }
	var conflict *ConflictError
	var update *UpdateError
	if err := CheckReply("h.", reply(dns.RcodeSuccess)); err != nil {
		t.Errorf("NOERROR: %v", err)
	}
	for _, rc := range []int{dns.RcodeYXRrset, dns.RcodeYXDomain} {
		if err := CheckReply("h.", reply(rc)); !errors.As(err, &conflict) {
			t.Errorf("%s: %v, want a conflict", dns.RcodeToString[rc], err)
		}
	}
	signed := reply(dns.RcodeNotAuth)
	signed.SetTsig("k.", dns.HmacSHA256, 300, 0)
	signed.Extra[0].(*dns.TSIG).Error = dns.RcodeBadSig
	err := CheckReply("h.", signed)
	if !errors.As(err, &update) || err.Error() != "Update errors: status: NOTAUTH (TSIG error BADSIG)" {
		t.Errorf("NOTAUTH: %v", err)
	}
	if err := CheckReply("h.", nil); err == nil {
		t.Error("no reply accepted")
	}
}
