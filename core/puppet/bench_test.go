package puppet_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// The bodies the bench names: a fact upload of 90 fact keys and a config
// report of 50 log lines, sent by the Puppet server's certificate over TLS (kept-alive
// connections), into SQLite (PostgreSQL too with SMARTPROXY_TEST_POSTGRES).
func factsBody90(host string) []byte {
	facts := map[string]any{"fqdn": host, "networking": map[string]any{"ip": "192.0.2.9", "mac": "52:54:00:00:00:09"}}
	for i := len(facts); i < 90; i++ {
		facts[fmt.Sprintf("fact_%02d", i)] = fmt.Sprintf("value of fact %d on %s", i, host)
	}
	data, _ := json.Marshal(map[string]any{"name": host, "certname": host, "facts": facts})
	return data
}

func reportBody50(host string) []byte {
	logs := make([]map[string]any, 50)
	for i := range logs {
		logs[i] = map[string]any{"log": map[string]any{"level": "notice", "sources": map[string]any{"source": fmt.Sprintf("/Stage[main]/Main/File[/tmp/f%d]/ensure", i)},
			"messages": map[string]any{"message": "defined content as '{sha256}25be3235'"}}}
	}
	data, _ := json.Marshal(map[string]any{"config_report": map[string]any{"host": host, "reported_at": "2026-12-06 00:37:21 UTC",
		"status": map[string]int{"applied": 50}, "metrics": map[string]any{"resources": map[string]any{"total": 60, "changed": 50},
			"changes": map[string]any{"total": 50}, "time": map[string]any{"total": 1.5}}, "logs": logs}})
	return data
}

func benchPosts(b *testing.B, path string, body func(host string) []byte) {
	b.Run("sqlite", func(b *testing.B) { benchPostsOn(b, storetest.SQLite(b), path, body) })
	b.Run("postgres", func(b *testing.B) { benchPostsOn(b, storetest.Postgres(b), path, body) })
}

func benchPostsOn(b *testing.B, db storetest.Database, path string, body func(host string) []byte) {
	c := newCore(b, db)
	client := c.client(b, &c.Puppet, "", "")
	// 100 hosts, created by the first round, so the loop measures updates and inserts.
	bodies := make([][]byte, 100)
	for i := range bodies {
		bodies[i] = body(fmt.Sprintf("bench%03d.example.test", i))
	}
	var n atomic.Int64
	b.SetParallelism(2) // a few Puppet servers at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			resp, err := client.Post(c.URL+path, "application/json", bytes.NewReader(bodies[i%int64(len(bodies))]))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkFactsUpload90Keys(b *testing.B) { benchPosts(b, "/api/hosts/facts", factsBody90) }

func BenchmarkConfigReport50Logs(b *testing.B) { benchPosts(b, "/api/config_reports", reportBody50) }
