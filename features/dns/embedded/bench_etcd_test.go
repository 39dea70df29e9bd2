package embedded

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// BenchmarkCreateOnEtcd is one record created through the provider on a real
// 3-member cluster (one transaction: the name's key and the zone's serial key),
// in a zone already holding 5,000 records: the cost no longer grows with the zone.
// "parallel" shows what concurrent API calls on one node get.
func BenchmarkCreateOnEtcd(b *testing.B) {
	cluster := etcdtest.Start(b, 3)
	p := startedOnEtcd(b, cluster, "/dnsbench/")
	for i := 0; i < 5000; i++ {
		mustCreate(b, p, fmt.Sprintf("pre%d.example.test", i), rr.A, fmt.Sprintf("10.98.%d.%d", i/250, i%250+1))
	}
	var n atomic.Int64
	create := func(b *testing.B) {
		rec := rr.Record{Name: fmt.Sprintf("new%d.example.test.", n.Add(1)), Type: rr.A, Value: "10.99.9.9", TTL: 300}
		if err := p.Create(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			create(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				create(b)
			}
		})
	})
}
