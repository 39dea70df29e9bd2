package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// benchFeature is a small feature with exposed settings, static capabilities and,
// when probe is set, computed ones: the shapes /v2/features has to render.
type benchFeature struct {
	name  string
	caps  []string
	probe []string
}

func (f *benchFeature) Name() string                  { return f.name }
func (f *benchFeature) Configure(*registry.Env) error { return nil }
func (f *benchFeature) Routes() []registry.Route {
	return []registry.Route{{Method: http.MethodGet, Path: "/" + f.name, Handler: func(w http.ResponseWriter, _ *http.Request) {}}}
}
func (f *benchFeature) Capabilities() []string { return f.caps }
func (f *benchFeature) ExposedSettings() map[string]any {
	return map[string]any{f.name + "_url": "https://" + f.name + ".example.com:8443"}
}

// probingFeature adds a capability probe (answered from the registry's cache).
type probingFeature struct{ benchFeature }

func (f *probingFeature) ProbeCapabilities(context.Context) ([]string, error) { return f.probe, nil }

// benchServer builds a registry of five features (three running, one disabled, one
// failed) and the server in front of it, with trusted_hosts set.
func benchServer(b *testing.B) *server.Server {
	b.Helper()
	dir := b.TempDir()
	files := map[string]string{
		"dns.yml":      ":enabled: true\n",
		"tftp.yml":     ":enabled: https\n",
		"bmc.yml":      ":enabled: true\n",
		"realm.yml":    ":enabled: false\n",
		"puppetca.yml": ":enabled: maybe\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	sec := settings.NewSection(filepath.Join(dir, "settings.yml"), map[string]any{
		"settings_directory": dir,
		"http_port":          8000,
		"trusted_hosts":      []any{"foreman.example.com"},
	})
	global := settings.ParseGlobal(sec)
	if err := sec.Err(); err != nil {
		b.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"},
		&benchFeature{name: "dns", caps: []string{"dns_cname", "dns_ptr_v6"}},
		&benchFeature{name: "tftp"},
		&probingFeature{benchFeature{name: "bmc", caps: []string{"shell", "ssh", "redfish"}, probe: []string{"freeipmi", "ipmitool"}}},
		&benchFeature{name: "realm"},
		&benchFeature{name: "puppetca"},
	)
	reg.Load()
	reg.Start(context.Background())
	b.Cleanup(func() { reg.Stop(context.Background()) })
	return server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
}

// serveBench replays one request against h and checks the first answer.
func serveBench(b *testing.B, h http.Handler, newReq func() *http.Request) {
	b.Helper()
	for i := 0; i < 2; i++ { // the first /v2/features call starts the capability probe
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newReq())
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), newReq())
	}
}

func BenchmarkFeatures(b *testing.B) {
	srv := benchServer(b)
	plain, secure := srv.Handler(false), srv.Handler(true)
	client := &tls.ConnectionState{
		HandshakeComplete: true,
		PeerCertificates:  []*x509.Certificate{{Subject: pkix.Name{CommonName: "foreman.example.com"}}},
	}
	get := func(path string, tlsState *tls.ConnectionState) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Accept", "application/json")
			r.TLS = tlsState
			return r
		}
	}
	b.Run("v1/http", func(b *testing.B) { serveBench(b, plain, get("/features", nil)) })
	b.Run("version/http", func(b *testing.B) { serveBench(b, plain, get("/version", nil)) })
	b.Run("v2/https", func(b *testing.B) { serveBench(b, secure, get("/v2/features", client)) })
	b.Run("v2/https-parallel", func(b *testing.B) {
		newReq := get("/v2/features", client)
		secure.ServeHTTP(httptest.NewRecorder(), newReq()) // start the capability probe
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				secure.ServeHTTP(httptest.NewRecorder(), newReq())
			}
		})
	})
}
