package orchestrate_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// An installer's failed call does what Foreman's does (its failed action calls
// host.built): the host leaves build mode, so the PXE config becomes the local-boot
// one and the autosign entry goes; the token is deleted, the log kept as build
// errors, installed_at set. GET /unattended/failed is no route in Foreman: it is a
// template request of kind "failed", which no OS has.
func TestInstallerFailedLeavesBuildAsForemanDoes(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnvWith(t, db, true)
		ctx := context.Background()
		id := int64(e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusCreated).JSON["id"].(float64))
		tok, err := e.store.BuildToken(ctx, id)
		must(t, err)

		resp, err := http.Get(e.coreURL + "/unattended/failed?token=" + tok.Value)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || string(body) != "unable to find failed template for "+name+" running Rocky 9.4" {
			t.Errorf("GET failed: %d %q", resp.StatusCode, body)
		}

		resp, err = http.Post(e.coreURL+"/unattended/failed?token="+tok.Value, "text/plain", strings.NewReader("anaconda: no disk found"))
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST failed: %d", resp.StatusCode)
		}
		h, err := e.store.Host(ctx, id)
		must(t, err)
		if h.Build {
			t.Error("the host is still in build")
		}
		if _, err := e.store.BuildToken(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the token is still there: %v", err)
		}
		b, err := e.store.HostBuild(ctx, id)
		if err != nil || b.BuildErrors != "anaconda: no disk found" || b.InstalledAt == nil {
			t.Errorf("build record %+v, %v", b, err)
		}
		if cfg, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); !ok || !strings.Contains(cfg, "LOCALBOOT") {
			t.Errorf("PXELinux config after failed (want the local-boot one):\n%s", cfg)
		}
		if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != "[]" {
			t.Errorf("autosign after failed = %s", got)
		}
		// The token is gone: a second call finds no host.
		resp, err = http.Post(e.coreURL+"/unattended/failed?token="+tok.Value, "text/plain", strings.NewReader("again"))
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("second failed: %d, want 404", resp.StatusCode)
		}
	})
}
