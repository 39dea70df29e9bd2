package orchestrate_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

const (
	name = "web01.example.test"
	ip   = "192.0.2.10"
	mac  = "52:54:00:00:00:10"
)

// A create makes A and PTR answer (dig), the reservation exist with next-server and
// the loader's file, the PXE configs be served over TFTP and the autosign entry be
// there; the task list is served; a delete removes every one of them.
func TestCreateAndDestroyThroughRealProxy(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		created := e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusCreated)
		id := int64(created.JSON["id"].(float64))

		if got := dig(t, e.main.DNSAddr, name, "A"); got != ip {
			t.Errorf("dig A %s = %q, want %s", name, got, ip)
		}
		if got := dig(t, e.main.DNSAddr, reverse(ip), "PTR"); got != name+"." {
			t.Errorf("dig PTR = %q, want %s.", got, name)
		}
		rec, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/"+mac)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"ip":"192.0.2.10"`, `"hostname":"web01.example.test"`, `"nextServer":"127.0.0.1"`, `"filename":"pxelinux.0"`} {
			if !strings.Contains(rec, want) {
				t.Errorf("reservation %s lacks %s", rec, want)
			}
		}
		cfg, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
		if !ok || !strings.Contains(cfg, "build") || !strings.Contains(cfg, "id="+itoa(id)) {
			t.Errorf("pxelinux.cfg over TFTP: ok=%v %q (want the build config rendered with the saved id %d)", ok, cfg, id)
		}
		if _, ok := tftpGet(t, e.main, "grub2/grub.cfg-01-52-54-00-00-00-10"); !ok {
			t.Error("no grub2 config over TFTP")
		}
		if _, err := e.proxyGet(e.main, "/tftp/iPXE/"+mac); err == nil {
			t.Error("an iPXE config was deployed though the renderer has no iPXE template")
		}
		if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != `["`+name+`"]` {
			t.Errorf("autosign = %s", got)
		}
		wantTasks := strings.Join([]string{
			"10 Create IPv4 DNS record for web01.example.test=completed",
			"10 Create Reverse IPv4 DNS record for web01.example.test=completed",
			"10 Create DHCP Settings for web01.example.test=completed",
			"15 Save host web01.example.test=completed",
			"20 Deploy TFTP PXELinux config for web01.example.test=completed",
			"20 Deploy TFTP PXEGrub2 config for web01.example.test=completed",
			"20 Deploy TFTP iPXE config for web01.example.test=completed",
			"25 Fetch TFTP boot files for web01.example.test=completed",
			"55 Enable PuppetCA autosigning for web01.example.test=completed",
		}, "\n")
		if got := e.tasks(itoa(id)); got != wantTasks {
			t.Errorf("tasks\n%s\nwant\n%s", got, wantTasks)
		}

		e.call(http.MethodDelete, "/api/v2/hosts/"+itoa(id), nil).expect(t, http.StatusOK)
		if left := e.leftovers(e.main, name, ip, mac); len(left) > 0 {
			t.Errorf("left after delete: %q", left)
		}
		e.expectNoHost(name)
		if got := e.tasks(name); !strings.Contains(got, "20 Delete TFTP PXELinux config for web01.example.test=completed") ||
			!strings.Contains(got, "59 Delete PuppetCA certificates for web01.example.test=failed") {
			t.Errorf("destroy tasks (the certificate delete fails without a Puppet Server, best effort):\n%s", got)
		}
	})
}

// A failure injected at each step leaves no record of the host on any proxy, the host
// unsaved, and a 422 naming the step with the proxy's message.
func TestCreateFailureRollsBackEveryStep(t *testing.T) {
	requirePeers(t)
	cases := []struct {
		name   string
		inject func(t *testing.T, e *env) (others []*realProxy, after func())
		step   string
		proxy  string // part of the proxy's message
		kept   map[int][]string
	}{
		{
			name: "DNS 409",
			inject: func(t *testing.T, e *env) ([]*realProxy, func()) {
				// The reverse zone lives on a second DNS proxy the core's resolver does
				// not ask, so the pre-check misses the PTR already there and the proxy
				// answers 409 when the step runs, after the A record was created.
				rev := startProxy(t, e.ca, proxySpec{dns: true, zones: []string{"2.0.192.in-addr.arpa"}})
				e.register(rev, "reverse", "DNS")
				_, err := e.client.Do(context.Background(), http.MethodPost, rev.URL, "/dns/",
					url.Values{"fqdn": {"other.example.test"}, "value": {reverse(ip)}, "type": {"PTR"}})
				must(t, err)
				e.setSubnetProxy("dns_id", rev.ID)
				return []*realProxy{rev}, nil
			},
			step:  "Create Reverse IPv4 DNS record for web01.example.test task failed with the following error: 409 Conflict",
			proxy: "is already in use",
			kept:  map[int][]string{1: {"PTR other.example.test."}},
		},
		{
			name: "DHCP proxy down",
			inject: func(t *testing.T, e *env) ([]*realProxy, func()) {
				sp := e.registerURL("dhcp-down", "https://"+freePort(t), "DHCP")
				e.setSubnetProxy("dhcp_id", sp)
				return nil, nil
			},
			step:  "Create DHCP Settings for web01.example.test task failed with the following error:",
			proxy: "connection refused",
		},
		{
			name: "TFTP error",
			inject: func(t *testing.T, e *env) ([]*realProxy, func()) {
				path := filepath.Join(e.main.TFTPRoot, "pxelinux.cfg")
				must(t, os.WriteFile(path, []byte("not a folder"), 0o644))
				return nil, func() { os.Remove(path) }
			},
			step:  "Deploy TFTP PXELinux config for web01.example.test task failed with the following error: 400 Bad Request",
			proxy: "pxelinux.cfg",
		},
		{
			name: "boot file fetch error",
			inject: func(t *testing.T, e *env) ([]*realProxy, func()) {
				e.setMediumPath("gopher://127.0.0.1/rocky/$version/os/$arch")
				return nil, nil
			},
			step:  "Fetch TFTP boot files for web01.example.test task failed with the following error: 400 Bad Request",
			proxy: "Cannot fetch boot file, unknown protocol for medium source path: gopher://127.0.0.1/rocky/9.4/os/x86_64/images/pxeboot/vmlinuz",
		},
		{
			name: "autosign error",
			inject: func(t *testing.T, e *env) ([]*realProxy, func()) {
				dir := filepath.Dir(e.main.Autosign)
				must(t, os.RemoveAll(dir))
				must(t, os.WriteFile(dir, []byte("a file where the autosign folder was"), 0o644))
				return nil, func() { os.Remove(dir); os.Mkdir(dir, 0o755) }
			},
			step:  "Enable PuppetCA autosigning for web01.example.test task failed with the following error: 406 Not Acceptable",
			proxy: "Failed to enable autosign for web01.example.test",
		},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db storetest.Database) {
				e := newEnv(t, db)
				others, after := c.inject(t, e)
				a := e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusUnprocessableEntity)
				msg := a.messages()
				if !strings.Contains(msg, c.step) || !strings.Contains(msg, c.proxy) {
					t.Errorf("422 says\n%s\nwant the step %q and the proxy's %q", msg, c.step, c.proxy)
				}
				if strings.Contains(msg, "Failed to perform rollback") {
					t.Errorf("a rollback failed:\n%s", msg)
				}
				if after != nil {
					after()
				}
				e.expectNoHost(name)
				for i, p := range append([]*realProxy{e.main}, others...) {
					left := e.leftovers(p, name, ip, mac)
					if !slices.Equal(left, c.kept[i]) {
						t.Errorf("proxy %d holds %q, want %q", i, left, c.kept[i])
					}
				}
				got := e.tasks(name)
				if !strings.Contains(got, "=failed") && !strings.Contains(got, "=conflict") {
					t.Errorf("the served task list shows no failed step:\n%s", got)
				}
				for _, line := range strings.Split(got, "\n") {
					if strings.HasSuffix(line, "=completed") {
						t.Errorf("a step is left completed after the rollback: %s\n%s", line, got)
					}
				}
			})
		})
	}
}

// Conflicting records found before any step are a 422 naming them, unless the
// request asks to overwrite them: then they are replaced.
func TestConflictsAreCheckedBeforeAnyStep(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		_, err := e.client.Do(ctx, http.MethodPost, e.main.URL, "/dns/", url.Values{"fqdn": {name}, "value": {"192.0.2.99"}, "type": {"A"}})
		must(t, err)
		_, err = e.client.Do(ctx, http.MethodPost, e.main.URL, "/dhcp/192.0.2.0",
			url.Values{"hostname": {"old.example.test"}, "ip": {ip}, "mac": {"52:54:00:00:00:99"}})
		must(t, err)

		a := e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusUnprocessableEntity)
		want := "DNS A Records web01.example.test/192.0.2.99 already exists\n" +
			"DHCP records 192.0.2.10/52:54:00:00:00:99 (old.example.test) already exists\n" +
			"Set overwrite to true to replace the conflicting records"
		if got := a.messages(); got != want {
			t.Fatalf("422 says\n%s\nwant\n%s", got, want)
		}
		if left := e.leftovers(e.main, name, ip, mac); !slices.Equal(left, []string{"A 192.0.2.99", "DHCP 192.0.2.10/52:54:00:00:00:99"}) {
			t.Fatalf("the refused create changed the proxy: %q", left)
		}
		e.expectNoHost(name)

		body := e.hostBody(name, ip, mac, false)
		body["host"].(map[string]any)["overwrite"] = true
		e.call(http.MethodPost, "/api/v2/hosts", body).expect(t, http.StatusCreated)
		if got := dig(t, e.main.DNSAddr, name, "A"); got != ip {
			t.Errorf("after overwrite dig A = %q, want %s only", got, ip)
		}
		if _, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/52:54:00:00:00:99"); err == nil {
			t.Error("the conflicting reservation is still there after overwrite")
		}
		if got := e.tasks(name); !strings.HasPrefix(got, "0 Remove conflicting DNS A record web01.example.test -> 192.0.2.99 for web01.example.test=completed\n"+
			"5 Remove conflicting DHCP reservation 192.0.2.10/52:54:00:00:00:99=completed") {
			t.Errorf("tasks:\n%s", got)
		}
	})
}

// An update that fails restores the old records and the old row; once the failure is
// gone the same update moves every record.
func TestUpdateFailureRestoresOldRecords(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		const newIP, newMAC = "192.0.2.11", "52:54:00:00:00:11"
		id := itoa(int64(e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusCreated).JSON["id"].(float64)))
		before, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
		if !ok || !strings.Contains(before, "localboot") {
			t.Fatalf("local boot config before the update: %v %q", ok, before)
		}
		blocker := filepath.Join(e.main.TFTPRoot, "pxelinux.cfg", "01-52-54-00-00-00-11")
		must(t, os.MkdirAll(filepath.Join(blocker, "x"), 0o755))

		change := map[string]any{"host": map[string]any{"ip": newIP, "mac": newMAC}}
		a := e.call(http.MethodPut, "/api/v2/hosts/"+id, change).expect(t, http.StatusUnprocessableEntity)
		if msg := a.messages(); !strings.Contains(msg, "Deploy TFTP PXELinux config for web01.example.test task failed") {
			t.Fatalf("422 says %s", msg)
		}
		if got := dig(t, e.main.DNSAddr, name, "A"); got != ip {
			t.Errorf("A after the failed update = %q, want the old %s", got, ip)
		}
		if got := dig(t, e.main.DNSAddr, reverse(ip), "PTR"); got != name+"." {
			t.Errorf("old PTR after the failed update = %q", got)
		}
		if got := dig(t, e.main.DNSAddr, reverse(newIP), "PTR"); got != "" {
			t.Errorf("new PTR left after the failed update: %q", got)
		}
		if got, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/"+mac); err != nil || !strings.Contains(got, `"ip":"192.0.2.10"`) {
			t.Errorf("old reservation after the failed update: %v %s", err, got)
		}
		if _, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/"+newMAC); err == nil {
			t.Error("new reservation left after the failed update")
		}
		if got, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); !ok || got != before {
			t.Errorf("old PXE config after the failed update: %v %q, want %q", ok, got, before)
		}
		if h, _ := e.store.HostByName(context.Background(), name); h.IP != ip || h.MAC != mac {
			t.Errorf("stored host after the failed update: %s %s", h.IP, h.MAC)
		}

		must(t, os.RemoveAll(blocker))
		e.call(http.MethodPut, "/api/v2/hosts/"+id, change).expect(t, http.StatusOK)
		if got := dig(t, e.main.DNSAddr, name, "A"); got != newIP {
			t.Errorf("A after the update = %q", got)
		}
		if got := dig(t, e.main.DNSAddr, reverse(ip), "PTR"); got != "" {
			t.Errorf("old PTR left after the update: %q", got)
		}
		if got := dig(t, e.main.DNSAddr, reverse(newIP), "PTR"); got != name+"." {
			t.Errorf("new PTR after the update: %q", got)
		}
		if _, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/"+mac); err == nil {
			t.Error("old reservation left after the update")
		}
		if _, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); ok {
			t.Error("old MAC's PXE config left after the update")
		}
		if _, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-11"); !ok {
			t.Error("no PXE config for the new MAC")
		}
	})
}

// Built swaps the build PXE config for the local-boot one and removes the autosign entry.
func TestBuiltDeploysLocalBoot(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusCreated)
		h, err := e.store.HostByName(context.Background(), name)
		must(t, err)
		h.Build = false
		must(t, e.store.UpdateHost(context.Background(), &h))
		must(t, e.orch.Built(context.Background(), h))
		if got, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10"); !ok || !strings.Contains(got, "localboot") {
			t.Errorf("PXE config after built: %v %q", ok, got)
		}
		if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != "[]" {
			t.Errorf("autosign after built = %s", got)
		}
	})
}

// Wired as foreman-core is (core/provision's renderer, build tokens, /unattended):
// the PXE config served over TFTP is the installer's, loading the kernel the proxy was
// asked to fetch and the kickstart with the host's token; the installer's built call
// (GET /unattended/built?token=…) makes the served config the local-boot one and
// removes the autosign entry.
func TestProvisionedHostBuildsThenBootsLocally(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnvWith(t, db, true)
		ctx := context.Background()
		created := e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, true)).expect(t, http.StatusCreated)
		id := int64(created.JSON["id"].(float64))
		token, err := e.store.BuildToken(ctx, id)
		must(t, err)
		os, err := e.store.OperatingSystem(ctx, e.ids.os)
		must(t, err)
		medium, err := e.store.Medium(ctx, e.ids.medium)
		must(t, err)
		boot := provision.BootFilesFor(os, medium, "x86_64")

		cfg, ok := tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
		if !ok || !strings.Contains(cfg, boot.Kernel) || !strings.Contains(cfg, "token="+token.Value) {
			t.Fatalf("PXELinux config over TFTP (want kernel %s and token %s):\n%s", boot.Kernel, token.Value, cfg)
		}
		if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != `["`+name+`"]` {
			t.Errorf("autosign while in build = %s", got)
		}

		resp, err := http.Get(e.coreURL + "/unattended/built?token=" + token.Value)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("built: %d", resp.StatusCode)
		}
		cfg, ok = tftpGet(t, e.main, "pxelinux.cfg/01-52-54-00-00-00-10")
		if !ok || strings.Contains(cfg, boot.Kernel) || !strings.Contains(cfg, "LOCALBOOT") {
			t.Errorf("PXELinux config after built (want the local-boot one):\n%s", cfg)
		}
		if got, _ := e.proxyGet(e.main, "/puppet/ca/autosign"); got != "[]" {
			t.Errorf("autosign after built = %s", got)
		}
		if h, _ := e.store.Host(ctx, id); h.Build {
			t.Error("the host is still in build")
		}
		if got := e.tasks(name); !strings.Contains(got, "20 Deploy TFTP PXELinux config for web01.example.test=completed") ||
			!strings.Contains(got, "50 Disable PuppetCA autosigning for web01.example.test=completed") {
			t.Errorf("built tasks:\n%s", got)
		}
	})
}

// A rollback deletes only what the run made: records that were already there as the
// host wants them (left by an earlier install, or the records of a host of the same
// name) stay when a later step fails, and a second host of a taken name is refused
// before any proxy is asked.
func TestRollbackKeepsRecordsItDidNotMake(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		for _, form := range []url.Values{
			{"fqdn": {name}, "value": {ip}, "type": {"A"}},
			{"fqdn": {name}, "value": {reverse(ip)}, "type": {"PTR"}},
		} {
			_, err := e.client.Do(ctx, http.MethodPost, e.main.URL, "/dns/", form)
			must(t, err)
		}
		_, err := e.client.Do(ctx, http.MethodPost, e.main.URL, "/dhcp/192.0.2.0", url.Values{"hostname": {name}, "name": {name},
			"ip": {ip}, "mac": {mac}, "nextServer": {"127.0.0.1"}, "filename": {"pxelinux.0"}})
		must(t, err)
		path := filepath.Join(e.main.TFTPRoot, "pxelinux.cfg")
		must(t, os.WriteFile(path, []byte("not a folder"), 0o644))

		a := e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusUnprocessableEntity)
		if msg := a.messages(); !strings.Contains(msg, "Deploy TFTP PXELinux config") {
			t.Fatalf("422 says %s", msg)
		}
		want := []string{"A " + ip, "PTR " + name + ".", "DHCP " + ip + "/" + mac}
		if left := e.leftovers(e.main, name, ip, mac); !slices.Equal(left, want) {
			t.Errorf("after the rollback the proxy holds %q, want the records that were there before %q", left, want)
		}

		must(t, os.Remove(path))
		e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusCreated)
		a = e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusUnprocessableEntity)
		if msg := a.messages(); msg != "Name has already been taken" {
			t.Errorf("second host of the name: %s", msg)
		}
		if got := dig(t, e.main.DNSAddr, name, "A"); got != ip {
			t.Errorf("the first host's A record after the refused duplicate: %q", got)
		}
		if _, err := e.proxyGet(e.main, "/dhcp/192.0.2.0/mac/"+mac); err != nil {
			t.Errorf("the first host's reservation after the refused duplicate: %v", err)
		}
	})
}

// A host that was never in build has no autosign entry (and the proxy may have no
// autosign file yet): deleting it asks nothing of the Puppet CA but the certificate.
func TestDestroyHostNeverInBuild(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		id := itoa(int64(e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusCreated).JSON["id"].(float64)))
		if _, err := os.Stat(e.main.Autosign); err == nil {
			t.Fatal("the test needs a proxy without an autosign file")
		}
		e.call(http.MethodDelete, "/api/v2/hosts/"+id, nil).expect(t, http.StatusOK)
		if left := e.leftovers(e.main, name, ip, mac); len(left) > 0 {
			t.Errorf("left after delete: %q", left)
		}
	})
}
