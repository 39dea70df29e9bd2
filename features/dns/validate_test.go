package dns

import (
	"testing"

	"github.com/smartproxy/smartproxy/features/dns/rr"
)

func TestNewRecordNormalises(t *testing.T) {
	tests := []struct {
		fqdn, value, typ string
		want             rr.Record
	}{
		{"h.example.test", "10.0.0.1", "a", rr.Record{Name: "h.example.test.", Type: rr.A, Value: "10.0.0.1", TTL: 60}},
		{"h.example.test.", "2001:0DB8:0000:0000:0000:0000:0000:0001", "AAAA", rr.Record{Name: "h.example.test.", Type: rr.AAAA, Value: "2001:db8::1", TTL: 60}},
		{"h.example.test", "1.0.0.10.in-addr.arpa", "PTR", rr.Record{Name: "1.0.0.10.in-addr.arpa.", Type: rr.PTR, Value: "h.example.test.", TTL: 60}},
		{"h.example.test", "1.0.0.10.IN-ADDR.ARPA.", "PTR", rr.Record{Name: "1.0.0.10.IN-ADDR.ARPA.", Type: rr.PTR, Value: "h.example.test.", TTL: 60}},
		{"a.example.test", "h.example.test", "cname", rr.Record{Name: "a.example.test.", Type: rr.CNAME, Value: "h.example.test.", TTL: 60}},
		{"_ldap._tcp.example.test", " 00 5  389 h.example.test ", "SRV", rr.Record{Name: "_ldap._tcp.example.test.", Type: rr.SRV, Value: "0 5 389 h.example.test.", TTL: 60}},
	}
	for _, tt := range tests {
		got, err := newRecord(tt.fqdn, tt.value, tt.typ, 60)
		if err != nil || got != tt.want {
			t.Errorf("newRecord(%q, %q, %q) = %+v, %v; want %+v", tt.fqdn, tt.value, tt.typ, got, err, tt.want)
		}
	}
}

// FuzzNewRecord: whatever a client sends, validation answers without panicking, and a
// record it accepts can be put on the wire.
func FuzzNewRecord(f *testing.F) {
	f.Add("h.example.test", "10.0.0.1", "A")
	f.Add("h.example.test", "1.0.0.10.in-addr.arpa", "PTR")
	f.Add("_x._tcp.example.test", "0 5 389 h.example.test", "srv")
	f.Add("-x", "::1", "AAAA")
	f.Fuzz(func(t *testing.T, fqdn, value, typ string) {
		rec, err := newRecord(fqdn, value, typ, 300)
		if err != nil {
			if _, ok := err.(validationError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if _, err := rec.RR(); err != nil {
			t.Fatalf("accepted %+v cannot be sent: %v", rec, err)
		}
		if _, err := deleteTarget(fqdn, typ); err != nil && rec.Type != rr.PTR {
			t.Fatalf("created %q as %s but cannot delete it: %v", fqdn, typ, err)
		}
	})
}
