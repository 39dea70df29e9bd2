package orchestrate_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// breakAutosign makes the proxy's autosign folder a file, so adding or removing an
// entry fails; the returned func repairs it.
func breakAutosign(t *testing.T, p *realProxy) func() {
	t.Helper()
	dir := filepath.Dir(p.Autosign)
	saved, _ := os.ReadFile(p.Autosign)
	must(t, os.RemoveAll(dir))
	must(t, os.WriteFile(dir, []byte("a file where the autosign folder was"), 0o644))
	return func() {
		must(t, os.Remove(dir))
		must(t, os.Mkdir(dir, 0o755))
		must(t, os.WriteFile(p.Autosign, saved, 0o644))
	}
}

// updateFailsAtAutosign sends change to host id while the proxy's autosign folder is
// broken: the update must fail at the autosign task (its 422 naming task) and the host's
// API view must be before, byte for byte.
func updateFailsAtAutosign(t *testing.T, e *env, id string, change map[string]any, task string, before map[string]any) {
	t.Helper()
	repair := breakAutosign(t, e.main)
	a := e.call(http.MethodPut, "/api/v2/hosts/"+id, change).expect(t, http.StatusUnprocessableEntity)
	repair()
	if msg := a.messages(); !strings.Contains(msg, task) {
		t.Fatalf("422 says %s, want %q", msg, task)
	}
	after := e.call(http.MethodGet, "/api/v2/hosts/"+id, nil).expect(t, http.StatusOK).JSON
	if !reflect.DeepEqual(before, after) {
		t.Errorf("host after the failed update\n%v\nwant it as it was\n%v", after, before)
	}
}

// An update that fails late (at the autosign step, after the save and the PXE
// configs) leaves the host exactly as it was, wired as foreman-core is (build tokens,
// core/provision's templates): the row with its updated_at, its parameters and
// infrastructure facet, its build token (none, or the one its installer holds), and
// the PXE config served over TFTP.
func TestFailedUpdateLeavesTheHostAsItWas(t *testing.T) {
	requirePeers(t)
	t.Run("entering build", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, db storetest.Database) {
			e := newEnvWith(t, db, true)
			ctx := context.Background()
			body := e.hostBody(name, ip, mac, false)
			body["host"].(map[string]any)["host_parameters_attributes"] = []any{map[string]any{"name": "role", "value": "web"}}
			id := itoa(int64(e.call(http.MethodPost, "/api/v2/hosts", body).expect(t, http.StatusCreated).JSON["id"].(float64)))
			before := e.call(http.MethodGet, "/api/v2/hosts/"+id, nil).expect(t, http.StatusOK).JSON
			pxeBefore, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
			if !ok || !strings.Contains(pxeBefore, "LOCALBOOT") {
				t.Fatalf("local boot config before the update: %v %q", ok, pxeBefore)
			}

			change := map[string]any{"host": map[string]any{"build": true,
				"host_parameters_attributes":      []any{map[string]any{"name": "role", "value": "db"}},
				"infrastructure_facet_attributes": map[string]any{"smart_proxy_id": e.main.ID}}}
			updateFailsAtAutosign(t, e, id, change, "Enable PuppetCA autosigning for web01.example.test task failed", before)
			h, err := e.store.HostByName(ctx, name)
			must(t, err)
			if _, err := e.store.BuildToken(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a build token was left behind: %v", err)
			}
			if got, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); !ok || got != pxeBefore {
				t.Errorf("PXE config after the failed update: %v %q, want %q", ok, got, pxeBefore)
			}
			if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != "[]" {
				t.Errorf("autosign after the failed update = %s", got)
			}
			// Once possible, the same update goes through and gives a token.
			e.call(http.MethodPut, "/api/v2/hosts/"+id, change).expect(t, http.StatusOK)
			if _, err := e.store.BuildToken(ctx, h.ID); err != nil {
				t.Errorf("no token after the update: %v", err)
			}
		})
	})

	t.Run("leaving build", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, db storetest.Database) {
			e := newEnvWith(t, db, true)
			ctx := context.Background()
			id := itoa(int64(e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusCreated).JSON["id"].(float64)))
			h, err := e.store.HostByName(ctx, name)
			must(t, err)
			tok, err := e.store.BuildToken(ctx, h.ID)
			must(t, err)
			before := e.call(http.MethodGet, "/api/v2/hosts/"+id, nil).expect(t, http.StatusOK).JSON
			pxeBefore, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
			if !ok || !strings.Contains(pxeBefore, "token="+tok.Value) {
				t.Fatalf("build config before the update: %v %q", ok, pxeBefore)
			}

			updateFailsAtAutosign(t, e, id, map[string]any{"host": map[string]any{"build": false}},
				"Disable PuppetCA autosigning for web01.example.test task failed", before)
			got, err := e.store.BuildToken(ctx, h.ID)
			if err != nil || got.Value != tok.Value || !got.ExpiresAt.Equal(tok.ExpiresAt) {
				t.Errorf("token after the failed update %+v (%v), want %+v", got, err, tok)
			}
			if cfg, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); !ok || cfg != pxeBefore {
				t.Errorf("PXE config after the failed update: %v %q, want the build one %q", ok, cfg, pxeBefore)
			}
			// The installer still holds a working token.
			resp, err := http.Get(e.coreURL + "/unattended/provision?token=" + tok.Value)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("kickstart with the kept token: %d", resp.StatusCode)
			}
		})
	})
}
