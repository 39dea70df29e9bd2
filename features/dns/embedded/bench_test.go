package embedded

import (
	"context"
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
)

func benchHandler(b *testing.B) (*Provider, *Handler) {
	b.Helper()
	p, err := configured(b, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	store, err := openStore(p.cfg, testLog())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	p.store = store
	h := newHandler(store, nil, testLog())
	for i := 0; i < 1000; i++ {
		rec := rr.Record{Name: fmt.Sprintf("h%d.example.test.", i), Type: rr.A, Value: fmt.Sprintf("10.99.%d.%d", i/250, i%250+1), TTL: 300}
		if err := p.Create(context.Background(), rec); err != nil {
			b.Fatalf("loading %s: %v", rec.Name, err)
		}
	}
	return p, h
}

func queries(b *testing.B) [][]byte {
	out := make([][]byte, 1000)
	for i := range out {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("h%d.example.test.", i), dns.TypeA)
		out[i], _ = m.Pack()
	}
	return out
}

// BenchmarkHandleCached is a repeated query: the answer cache's copy and patch.
func BenchmarkHandleCached(b *testing.B) {
	_, h := benchHandler(b)
	qs := queries(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := newScratch()
		for i := 0; pb.Next(); i++ {
			if h.Handle(qs[i%len(qs)], false, s) == nil {
				b.Fatal("no reply")
			}
		}
	})
}

// BenchmarkHandleFull is the path of a first query: parse, look up, pack.
func BenchmarkHandleFull(b *testing.B) {
	_, h := benchHandler(b)
	qs := queries(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if reply, _ := h.respond(qs[i%len(qs)], false); reply == nil {
			b.Fatal("no reply")
		}
	}
}

// BenchmarkCreate is one record created through the provider, journal synced.
func BenchmarkCreate(b *testing.B) {
	p, _ := benchHandler(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := rr.Record{Name: fmt.Sprintf("new%d.example.test.", i), Type: rr.A, Value: "10.99.9.9", TTL: 300}
		if err := p.Create(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
}
