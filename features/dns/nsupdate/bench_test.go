package nsupdate

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// BenchmarkCreateBIND creates A records in a real BIND: the conflict query plus the
// signed update, with concurrent callers coalesced (see batch.go).
func BenchmarkCreateBIND(b *testing.B) {
	named := bindtest.StartNamed(b, "example.test")
	sec := settings.NewSection("dns_nsupdate.yml", map[string]any{"dns_server": named.Addr, "dns_key": named.KeyFile})
	p := New()
	if err := p.Configure(&registry.Env{Global: &settings.Global{}, Settings: sec, Log: logrus.NewEntry(logrus.New())}); err != nil || sec.Err() != nil {
		b.Fatal(err, sec.Err())
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer p.Stop(ctx)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rec := rr.Record{Name: fmt.Sprintf("b%d.example.test.", i), Type: rr.A, Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), TTL: 300}
			if err := p.Create(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
