package puppet_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// BenchmarkConfigReport50LogsKeyed is BenchmarkConfigReport50Logs as a relay sends it:
// each report with a new Idempotency-Key (a lookup, and the key written in the
// report's transaction).
func BenchmarkConfigReport50LogsKeyed(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchKeyedReports(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchKeyedReports(b, storetest.Postgres(b)) })
}

func benchKeyedReports(b *testing.B, db storetest.Database) {
	c := newCore(b, db)
	client := c.client(b, &c.Puppet, "", "")
	bodies := make([][]byte, 100)
	for i := range bodies {
		bodies[i] = reportBody50(fmt.Sprintf("bench%03d.example.test", i))
	}
	var n atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req, _ := http.NewRequest("POST", c.URL+"/api/config_reports", bytes.NewReader(bodies[i%int64(len(bodies))]))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", i))
			resp, err := client.Do(req)
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
