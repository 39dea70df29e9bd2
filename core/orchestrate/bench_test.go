package orchestrate_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// BenchmarkHostCreate is one POST /api/v2/hosts with full orchestration (conflict
// pre-checks, A, PTR, DHCP, the save with its build token, three PXE configs rendered
// by core/provision, boot files, autosign) against a real in-process proxy, on SQLite.
// The subnet has 253 addresses, so hosts older than 250 creates are deleted with the
// timer stopped.
func BenchmarkHostCreate(b *testing.B) {
	requirePeers(b)
	e := newEnvWith(b, storetest.SQLite(b), true)
	ids := make([]string, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= 250 {
			b.StopTimer()
			e.call(http.MethodDelete, "/api/v2/hosts/"+ids[i-250], nil).expect(b, http.StatusOK)
			b.StartTimer()
		}
		n := i%250 + 1
		body := e.hostBody(fmt.Sprintf("bench%d.example.test", i), fmt.Sprintf("192.0.2.%d", n),
			fmt.Sprintf("52:54:00:00:%02x:%02x", n/256, n%256), true)
		created := e.call(http.MethodPost, "/api/v2/hosts", body).expect(b, http.StatusCreated)
		ids[i] = fmt.Sprint(int64(created.JSON["id"].(float64)))
	}
}
