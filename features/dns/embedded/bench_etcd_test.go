package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// startedOnEtcd starts a provider keeping its zones in the cluster under prefix.
func startedOnEtcd(tb testing.TB, c *etcdtest.Cluster, prefix string) *Provider {
	tb.Helper()
	var endpoints []any
	for _, e := range c.Endpoints() {
		endpoints = append(endpoints, e)
	}
	values := map[string]any{
		"listen":         "127.0.0.1:0",
		"zones":          []any{"example.test", "99.10.in-addr.arpa"},
		"state_backend":  "etcd",
		"etcd_endpoints": endpoints,
		"etcd_ca":        c.CA.CAFile,
		"etcd_cert":      c.Client.CertFile,
		"etcd_key":       c.Client.KeyFile,
		"etcd_prefix":    prefix,
	}
	sec := settings.NewSection("dns_embedded.yml", values)
	p := New()
	if err := errors.Join(p.Configure(&registry.Env{Global: &settings.Global{}, Settings: sec, Log: testLog()}), sec.Err()); err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop(context.Background()) })
	return p
}

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
