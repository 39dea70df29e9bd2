package provision_test

import (
	"context"
	"testing"

	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// BenchmarkPXEConfig is one PXE config rendered for a host in build, store lookups
// included (what core/orchestrate pays per TFTP kind per host).
func BenchmarkPXEConfig(b *testing.B) {
	e := newEnv(b, storetest.SQLite(b))
	ctx := context.Background()
	h := e.host(hostSpec{name: "bench", mac: alMAC, build: true})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Renderer.PXEConfig(ctx, h, provision.KindPXELinux); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKickstartByToken is an installer's GET /unattended/provision?token= over
// loopback HTTP: token lookup, checks, render.
func BenchmarkKickstartByToken(b *testing.B) {
	e := newEnv(b, storetest.SQLite(b))
	h := e.host(hostSpec{name: "bench", mac: alMAC, build: true})
	path := "/unattended/provision?token=" + e.token(h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := e.do(req{path: path}); r.status != 200 {
			b.Fatal(r.status, r.body)
		}
	}
}
