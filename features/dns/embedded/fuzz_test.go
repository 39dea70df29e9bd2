package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
)

func packed(f *testing.F, m *dns.Msg) []byte {
	f.Helper()
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func seedMessages(f *testing.F) [][]byte {
	q := func(name string, t uint16) *dns.Msg { m := new(dns.Msg); m.SetQuestion(name, t); return m }
	withEDNS := q("host1.example.test.", dns.TypeA)
	withEDNS.SetEdns0(4096, true)
	badVersion := q("example.test.", dns.TypeSOA)
	badVersion.SetEdns0(1232, false)
	badVersion.IsEdns0().SetVersion(1)
	twoQuestions := q("a.example.test.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	notify := new(dns.Msg)
	notify.SetNotify("example.test.")
	unsigned := new(dns.Msg)
	unsigned.SetUpdate("example.test.")
	x, _ := dns.NewRR("new.example.test. 300 IN A 10.99.0.9")
	unsigned.Insert([]dns.RR{x})
	signed := unsigned.Copy()
	signed.SetTsig(testKeyName+".", dns.HmacSHA256, 300, time.Now().Unix())
	signedWire, _, err := dns.TsigGenerate(signed, testKeySecret, "", false)
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		packed(f, q("host1.example.test.", dns.TypeA)),
		packed(f, q("HOST1.example.test.", dns.TypeAAAA)),
		packed(f, q("example.test.", dns.TypeNS)),
		packed(f, q("_ldap._tcp.example.test.", dns.TypeSRV)),
		packed(f, q("alias.example.test.", dns.TypeA)),
		packed(f, q("42.0.99.10.in-addr.arpa.", dns.TypePTR)),
		packed(f, q("nobody.example.test.", dns.TypeANY)),
		packed(f, q("www.example.org.", dns.TypeA)),
		packed(f, withEDNS), packed(f, badVersion), packed(f, twoQuestions), packed(f, notify),
		packed(f, unsigned), signedWire,
		{}, {0, 1}, make([]byte, 12),
		// A question whose name points at itself.
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},
	}
	return seeds
}

// FuzzHandle feeds arbitrary bytes to the server's message handling. Nothing may
// panic; a reply must be a well-formed response to the request's id; and an answer
// from the cache must be byte for byte what the full path builds for the same query,
// whatever its id, RD and CD bits.
func FuzzHandle(f *testing.F) {
	for _, s := range seedMessages(f) {
		f.Add(s)
	}
	p, err := configured(f, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	store, err := openStore(p.cfg, testLog())
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	p.store = store
	for _, r := range []rr.Record{
		{Name: "host1.example.test.", Type: rr.A, Value: "10.99.0.42", TTL: 300},
		{Name: "host1.example.test.", Type: rr.AAAA, Value: "2001:db8::42", TTL: 300},
		{Name: "alias.example.test.", Type: rr.CNAME, Value: "host1.example.test.", TTL: 300},
		{Name: "_ldap._tcp.example.test.", Type: rr.SRV, Value: "0 5 389 host1.example.test.", TTL: 300},
		{Name: "42.0.99.10.in-addr.arpa.", Type: rr.PTR, Value: "host1.example.test.", TTL: 300},
	} {
		if err := p.Create(context.Background(), r); err != nil {
			f.Fatal(err)
		}
	}
	h := newHandler(store, tsigkey.NewRing(p.cfg.keys...), testLog())

	f.Fuzz(func(t *testing.T, data []byte) {
		s := newScratch()
		for _, tcp := range []bool{false, true} {
			reply := h.Handle(data, tcp, s)
			if reply == nil {
				continue
			}
			checkReply(t, data, reply, tcp)
			if _, _, quick := quickKey(data, nil); !quick {
				continue
			}
			full, _ := h.respond(data, tcp)
			again := h.Handle(data, tcp, s) // now from the cache when cacheable
			if !bytes.Equal(again, full) {
				t.Fatalf("cached reply differs from the full path:\ncached % x\nfull   % x", again, full)
			}
			variant := append([]byte(nil), data...)
			binary.BigEndian.PutUint16(variant, ^binary.BigEndian.Uint16(data))
			variant[2] ^= flagRD
			variant[3] ^= flagCD
			fromCache := append([]byte(nil), h.Handle(variant, tcp, s)...)
			if full, _ := h.respond(variant, tcp); !bytes.Equal(fromCache, full) {
				t.Fatalf("patched id/RD/CD differ from the full path:\ncached % x\nfull   % x", fromCache, full)
			}
		}
	})
}

func checkReply(t *testing.T, req, reply []byte, tcp bool) {
	t.Helper()
	if len(reply) < 12 || len(req) < 12 {
		t.Fatalf("reply of %d bytes to a request of %d", len(reply), len(req))
	}
	if reply[0] != req[0] || reply[1] != req[1] || reply[2]&0x80 == 0 {
		t.Fatalf("reply header % x does not answer request header % x", reply[:4], req[:4])
	}
	if !tcp && len(reply) > advertisedUDPSize {
		t.Fatalf("UDP reply of %d bytes", len(reply))
	}
	var m dns.Msg
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("reply does not parse: %v\n% x", err, reply)
	}
}
