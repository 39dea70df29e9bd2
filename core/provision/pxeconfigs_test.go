package provision_test

import (
	"context"
	"testing"

	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// PXEConfigs gives, for each kind, exactly what PXEConfig renders, in and out of
// build, and leaves out a kind without a template.
func TestPXEConfigsRendersLikePXEConfig(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	ctx := context.Background()
	h := e.host(hostSpec{name: "batch", mac: alMAC, ip: "192.0.2.10", build: true})
	kinds := []string{provision.KindPXELinux, provision.KindPXEGrub2, provision.KindIPXE, "PXEGrub"}
	for _, build := range []bool{true, false} {
		h.Build = build
		got, err := e.Renderer.PXEConfigs(ctx, h, kinds)
		must(t, err)
		if _, ok := got["PXEGrub"]; ok || len(got) != 3 {
			t.Fatalf("build=%v: kinds %v, want the three with templates", build, len(got))
		}
		for _, kind := range kinds[:3] {
			want, err := e.Renderer.PXEConfig(ctx, h, kind)
			must(t, err)
			if got[kind] != want {
				t.Errorf("build=%v %s:\n%s\nwant\n%s", build, kind, got[kind], want)
			}
		}
	}
}

// BenchmarkPXEConfigs is the three PXE kinds of a host in build rendered at once (what
// core/orchestrate pays per host), to compare with three BenchmarkPXEConfig.
func BenchmarkPXEConfigs(b *testing.B) {
	e := newEnv(b, storetest.SQLite(b))
	ctx := context.Background()
	h := e.host(hostSpec{name: "bench", mac: alMAC, build: true})
	kinds := []string{provision.KindPXELinux, provision.KindPXEGrub2, provision.KindIPXE}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Renderer.PXEConfigs(ctx, h, kinds); err != nil {
			b.Fatal(err)
		}
	}
}
