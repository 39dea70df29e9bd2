package provision_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

func TestTemplateByToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		h := e.host(hostSpec{name: "web01", mac: "52:54:00:12:34:56", ip: "192.0.2.10", build: true})
		tok := e.token(h)
		if len(tok) != 36 || strings.Count(tok, "-") != 4 {
			t.Fatalf("token %q is not a UUID", tok)
		}
		e.do(req{path: "/unattended/provision?token=" + tok}).expect(t, http.StatusOK, "").contains(t,
			"url --url=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os\n",
			"network --device=52:54:00:12:34:56 --bootproto=dhcp --hostname=web01.example.test",
			"--data @/root/install.post.log --noproxy \\* --silent 'http://foreman.test:3000/unattended/built?token="+tok+"'",
			"'http://foreman.test:3000/unattended/failed?token="+tok+"'")
		// Juniper ZTP's suffix is stripped.
		e.do(req{path: "/unattended/provision?token=" + tok + ".slax"}).expect(t, http.StatusOK, "")
		// A token that matches nothing does not fall back to the MAC or the IP.
		e.do(req{path: "/unattended/provision?token=9d4d2cc6-1f1b-4e5a-8a3c-0d6d2c8f6a11",
			header: map[string]string{"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:12:34:56"}}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.1")
		e.do(req{path: "/unattended/provision?token="}).expect(t, http.StatusNotFound, "")
	})
}

func TestHostByMACHeadersAndParam(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		old := e.host(hostSpec{name: "old", mac: "52:54:00:00:00:01", build: true})
		time.Sleep(2 * time.Millisecond) // created_at decides between hosts sharing a MAC
		newer := e.host(hostSpec{name: "new", mac: "52:54:00:00:00:01", build: true})
		e.host(hostSpec{name: "other", mac: "52:54:00:00:00:02", build: true})

		// Anaconda's inst.ks.sendmac headers: every interface, the host is the one
		// whose provisioning MAC is among them; the newest of several wins.
		e.do(req{path: "/unattended/provision", header: map[string]string{
			"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:99:99:99",
			"X-RHN-Provisioning-MAC-1": "eth1 52:54:00:00:00:01",
		}}).expect(t, http.StatusOK, "").contains(t, "--hostname="+newer.Name, "token="+e.token(newer))
		// Without -0 the headers are not read: lookup by IP, which matches nothing.
		e.do(req{path: "/unattended/provision", header: map[string]string{"X-RHN-Provisioning-MAC-1": "eth1 52:54:00:00:00:02"}}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.1")
		// A malformed header value is skipped, the others still count.
		e.do(req{path: "/unattended/provision", header: map[string]string{
			"X-RHN-Provisioning-MAC-0": "garbage", "X-RHN-Provisioning-MAC-1": "eth1 52:54:00:00:00:02"}}).
			expect(t, http.StatusOK, "").contains(t, "--hostname=other.example.test")
		// ?mac= as iPXE sends it, in any spelling net.ParseMAC reads.
		e.do(req{path: "/unattended/iPXE?mac=52-54-00-00-00-02", header: map[string]string{"User-Agent": "iPXE/1.21.1"}}).
			expect(t, http.StatusOK, "").contains(t, "#!ipxe\n", "kernel http://mirror.test/almalinux/9.4/BaseOS/x86_64/os/images/pxeboot/vmlinuz initrd=initrd.img inst.stage2=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os inst.ks=http://foreman.test:3000/unattended/provision?token=")
		_ = old
	})
}

func TestHostByClientIPAndTrustedProxies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		direct := e.host(hostSpec{name: "direct", mac: "52:54:00:00:01:01", ip: "127.0.0.5", build: true})
		behind := e.host(hostSpec{name: "behind", mac: "52:54:00:00:01:02", ip: "192.0.2.20", build: true})

		e.do(req{path: "/unattended/provision", from: "127.0.0.5"}).expect(t, http.StatusOK, "").contains(t, "--hostname="+direct.Name)
		// 127.0.0.1 is a trusted proxy: its X-Forwarded-For names the client.
		e.do(req{path: "/unattended/provision", header: map[string]string{"X-Forwarded-For": "192.0.2.20"}}).
			expect(t, http.StatusOK, "").contains(t, "--hostname="+behind.Name)
		// 127.0.0.3 is not: what it claims is ignored, its own address is looked up.
		e.do(req{path: "/unattended/provision", from: "127.0.0.3", header: map[string]string{"X-Forwarded-For": "192.0.2.20"}}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.3")
		// A client cannot hide behind a forged hop either: the trusted proxy's entry wins.
		e.do(req{path: "/unattended/provision", from: "127.0.0.5", header: map[string]string{"X-Forwarded-For": "192.0.2.20"}}).
			expect(t, http.StatusOK, "").contains(t, "--hostname="+direct.Name)
	})
}

// Without unattended_url, foreman_url is the core as the installer reached it. Behind
// a TLS terminator that is the terminator's https address, which the core learns
// from X-Forwarded-Proto/-Host, believed from trusted_proxies (127.0.0.1) only.
func TestForemanURLBehindATLSTerminator(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db, envOptions{tokenDuration: time.Hour, ownAddress: true})
		h := e.host(hostSpec{name: "web01", mac: "52:54:00:12:34:57", build: true})
		tok := e.token(h)
		forwarded := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "foreman.example.test"}
		e.do(req{path: "/unattended/provision?token=" + tok}).expect(t, http.StatusOK, "").
			contains(t, "'"+e.URL+"/unattended/built?token="+tok+"'")
		e.do(req{path: "/unattended/provision?token=" + tok, header: forwarded}).expect(t, http.StatusOK, "").
			contains(t, "'https://foreman.example.test/unattended/built?token="+tok+"'")
		got := e.do(req{path: "/unattended/provision?token=" + tok, header: forwarded, from: "127.0.0.3"}).
			expect(t, http.StatusOK, "").contains(t, "'"+e.URL+"/unattended/built?token="+tok+"'")
		if strings.Contains(got.body, "foreman.example.test") {
			t.Errorf("headers from an untrusted peer were believed:\n%s", got.body)
		}
	})
}

func TestRelayURLIsTheBaseOfForemanURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		h := e.host(hostSpec{name: "relayed", mac: "52:54:00:00:02:01", build: true, os: &e.Debian, medium: &e.DebMedium})
		tok := e.token(h)
		e.do(req{path: "/unattended/provision?token=" + tok + "&url=http://proxy.test:8000"}).expect(t, http.StatusOK, "").
			contains(t, "d-i preseed/late_command string wget -Y off 'http://proxy.test:8000/unattended/finish?token="+tok+"' -O /target/tmp/finish.sh")
		e.do(req{path: "/unattended/finish?token=" + tok + "&url=https://proxy.test:8443/sub/"}).expect(t, http.StatusOK, "").
			contains(t, "'https://proxy.test:8443/sub/unattended/built?token="+tok+"'")
		// What cannot be a base (another scheme, a quote or newline that would break the
		// script) is ignored: unattended_url is used.
		for _, bad := range []string{"javascript:alert(1)", "http://x.test/%0Arm", "http://x.test/'$(reboot)'", "ftp://x.test"} {
			e.do(req{path: "/unattended/finish?token=" + tok + "&url=" + strings.ReplaceAll(bad, "'", "%27")}).
				expect(t, http.StatusOK, "").contains(t, "'"+unattendedURL+"/unattended/built?token="+tok+"'")
		}
	})
}

func TestExpiredToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		h := e.host(hostSpec{name: "late", mac: "52:54:00:00:03:01", build: true})
		must(t, e.Store.StartBuild(ctx, h.ID, &store.BuildToken{HostID: h.ID, Value: "11111111-2222-4333-8444-555555555555",
			ExpiresAt: time.Now().Add(-time.Minute)}))
		const tok = "11111111-2222-4333-8444-555555555555"
		e.do(req{path: "/unattended/provision?token=" + tok}).
			expect(t, http.StatusUnauthorized, "unattended: provisioning token for host late.example.test expired")
		e.do(req{path: "/unattended/iPXE?token=" + tok}).
			expect(t, http.StatusUnauthorized, "#!ipxe\necho unattended: provisioning token for host late.example.test expired\nshell\n")
		// built still accepts it (the installation may outlast the token).
		e.do(req{path: "/unattended/built?token=" + tok}).expect(t, http.StatusCreated, "")
		if e.reload(h).Build {
			t.Fatal("host still in build")
		}
	})
}

func TestRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		installed := e.host(hostSpec{name: "installed", mac: "52:54:00:00:04:01"})
		noOS := e.host(hostSpec{name: "noos", mac: "52:54:00:00:04:02", noOS: true, build: true})
		noFamily := e.host(hostSpec{name: "nofamily", mac: "52:54:00:00:04:03", os: &e.NoFamily, build: true})
		e.host(hostSpec{name: "building", mac: "52:54:00:00:04:04", build: true})
		mac := func(m string) map[string]string { return map[string]string{"X-RHN-Provisioning-MAC-0": "eth0 " + m} }

		// Not in build: 405 with an empty body, for templates, built and failed.
		e.do(req{path: "/unattended/provision", header: mac(installed.MAC)}).expect(t, http.StatusMethodNotAllowed, "")
		e.do(req{path: "/unattended/built", header: mac(installed.MAC)}).expect(t, http.StatusMethodNotAllowed, "")
		e.do(req{method: http.MethodPost, path: "/unattended/failed?mac=" + installed.MAC, body: "x"}).expect(t, http.StatusMethodNotAllowed, "")
		// No OS, an OS without family: 409.
		e.do(req{path: "/unattended/provision", header: mac(noOS.MAC)}).
			expect(t, http.StatusConflict, "unattended: noos.example.test's operating system is missing")
		e.do(req{path: "/unattended/built", header: mac(noOS.MAC)}).
			expect(t, http.StatusConflict, "unattended: noos.example.test's operating system is missing")
		e.do(req{path: "/unattended/provision", header: mac(noFamily.MAC)}).
			expect(t, http.StatusConflict, "unattended: nofamily.example.test's operating system Plan9 4 has no OS family")
		// No host: 404 naming the address the request came from.
		e.do(req{path: "/unattended/provision", from: "127.0.0.9"}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.9")
		e.do(req{method: http.MethodPost, path: "/unattended/built", from: "127.0.0.9"}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.9")
		// A kind without a template for the host's OS: 404.
		e.do(req{path: "/unattended/script", header: mac("52:54:00:00:04:04")}).
			expect(t, http.StatusNotFound, "unable to find script template for building.example.test running AlmaLinux 9.4")
		e.do(req{path: "/unattended/scr%0Aipt", header: mac("52:54:00:00:04:04")}).
			expect(t, http.StatusNotFound, "unable to find scr ipt template for building.example.test running AlmaLinux 9.4")
		if r := e.do(req{path: "/unattended"}); r.status != http.StatusNotFound || r.body != "" {
			t.Errorf("GET /unattended: %d %q", r.status, r.body)
		}
		// Only built and failed take POST.
		e.do(req{method: http.MethodPost, path: "/unattended/provision", header: mac("52:54:00:00:04:04")}).expect(t, http.StatusNotFound, "Not Found")
		if calls := e.Finisher.calls(); len(calls) != 0 {
			t.Fatalf("finisher called for refused requests: %v", calls)
		}
	})
}

func TestIPXE(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		installed := e.host(hostSpec{name: "installed", mac: "52:54:00:00:05:01"})
		noOS := e.host(hostSpec{name: "noos", mac: "52:54:00:00:05:02", noOS: true, build: true})
		ua := map[string]string{"User-Agent": "iPXE/1.21.1"}

		// No host and ?bootstrap: the intermediate script, chaining by each NIC's MAC.
		r := e.do(req{path: "/unattended/iPXE?bootstrap=1", header: ua}).expect(t, http.StatusOK, "")
		r.contains(t, "#!ipxe\n", "dhcp net0 && chain "+unattendedURL+"/unattended/iPXE?mac=${net0/mac} ||\n",
			"dhcp net32 && chain "+unattendedURL+"/unattended/iPXE?mac=${net32/mac} ||\n")
		// No host: the global default (boot the disk), 200 as Foreman.
		e.do(req{path: "/unattended/iPXE?mac=52:54:00:ff:ff:ff", header: ua}).expect(t, http.StatusOK, "").contains(t, "#!ipxe\n", "exit 1\n")
		e.do(req{path: "/unattended/gPXE", header: ua, from: "127.0.0.9"}).expect(t, http.StatusOK, "").contains(t, "exit 1\n")
		// Not in build: the host's local boot script.
		e.do(req{path: "/unattended/iPXE?mac=" + installed.MAC, header: ua}).expect(t, http.StatusOK, "").
			contains(t, "Booting installed.example.test from the local disk")
		// Errors are iPXE scripts that show the message.
		e.do(req{path: "/unattended/iPXE?mac=" + noOS.MAC, header: ua}).
			expect(t, http.StatusConflict, "#!ipxe\necho unattended: noos.example.test's operating system is missing\nshell\n")
	})
}

func TestBuiltLeavesBuildMode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		viaGET := e.host(hostSpec{name: "preseeded", mac: "52:54:00:00:06:01", build: true, os: &e.Debian, medium: &e.DebMedium})
		viaPOST := e.host(hostSpec{name: "kickstarted", mac: "52:54:00:00:06:02", build: true})
		getTok, postTok := e.token(viaGET), e.token(viaPOST)

		// The preseed finish script's curl without a body: GET.
		e.do(req{path: "/unattended/built?token=" + getTok, header: map[string]string{"User-Agent": "curl/7.88.1"}}).expect(t, http.StatusCreated, "")
		// The kickstart's curl --data @file: POST with the log.
		e.do(req{method: http.MethodPost, path: "/unattended/built?token=" + postTok, body: "install log line 1install log line 2",
			header: map[string]string{"User-Agent": "curl/7.88.1", "Content-Type": "text/plain"}}).expect(t, http.StatusCreated, "")

		for _, h := range []store.Host{viaGET, viaPOST} {
			if e.reload(h).Build {
				t.Errorf("%s still in build", h.Name)
			}
			if _, err := e.Store.BuildToken(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s still has a token: %v", h.Name, err)
			}
			b, err := e.Store.HostBuild(ctx, h.ID)
			if err != nil || b.InstalledAt == nil || b.BuildErrors != "" {
				t.Errorf("%s build record %+v, %v", h.Name, b, err)
			}
		}
		calls := e.Finisher.calls()
		if len(calls) != 2 || calls[0].ID != viaGET.ID || calls[1].ID != viaPOST.ID || calls[0].Build || calls[1].Build {
			t.Fatalf("finisher calls %+v, want both hosts with Build false", calls)
		}
		// The token is gone: a second built finds no host.
		e.do(req{path: "/unattended/built?token=" + getTok}).expect(t, http.StatusNotFound, "")
		// The host is out of build: its templates are refused, its PXE config is local.
		e.do(req{path: "/unattended/provision?mac=" + viaPOST.MAC}).expect(t, http.StatusMethodNotAllowed, "")
	})
}

func TestBuiltConflicts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		h := e.host(hostSpec{name: "stuck", mac: "52:54:00:00:07:01", build: true})
		tok := e.token(h)
		e.Finisher.fail = errors.New("TFTP proxy down")
		e.do(req{method: http.MethodPost, path: "/unattended/built?token=" + tok}).expect(t, http.StatusConflict, "")
		if !e.reload(h).Build || e.token(h) != tok {
			t.Fatal("a failed finish must leave the host in build with its token")
		}
		e.Finisher.fail = nil
		e.do(req{method: http.MethodPost, path: "/unattended/built?token=" + tok}).expect(t, http.StatusCreated, "")
	})
}

func TestFailedStoresTheLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		short := e.host(hostSpec{name: "short", mac: "52:54:00:00:08:01", build: true})
		long := e.host(hostSpec{name: "long", mac: "52:54:00:00:08:02", build: true})

		e.do(req{method: http.MethodPost, path: "/unattended/failed?token=" + e.token(short), body: "anaconda: no disk found\n",
			header: map[string]string{"Content-Type": "text/plain"}}).expect(t, http.StatusCreated, "")
		b, err := e.Store.HostBuild(ctx, short.ID)
		// Foreman's failed calls host.built: build off, installed_at set, log kept.
		if err != nil || b.BuildErrors != "anaconda: no disk found\n" || b.InstalledAt == nil {
			t.Fatalf("build record %+v, %v", b, err)
		}
		if e.reload(short).Build {
			t.Fatal("failed must take the host out of build")
		}

		// 70,000 bytes with a NUL and invalid UTF-8 at the start: the first 65,535 are
		// kept, scrubbed, and the cut is marked.
		body := "\x00\xff\xfe" + strings.Repeat("0123456789", 7000)
		e.do(req{method: http.MethodPost, path: "/unattended/failed?token=" + e.token(long), body: body}).expect(t, http.StatusCreated, "")
		b, err = e.Store.HostBuild(ctx, long.ID)
		must(t, err)
		if !strings.HasSuffix(b.BuildErrors, "\n\nOutput trimmed\n") || !strings.HasPrefix(b.BuildErrors, "__0123") {
			t.Fatalf("build errors start %q end %q", b.BuildErrors[:10], b.BuildErrors[len(b.BuildErrors)-20:])
		}
		kept := strings.TrimSuffix(b.BuildErrors, "\n\nOutput trimmed\n")
		if len(kept) != 65535-1 || !utf8.ValidString(kept) || strings.ContainsRune(kept, 0) {
			t.Fatalf("kept %d bytes (want 65534: 65535 read, two invalid bytes became one _)", len(kept))
		}
		// A new build clears the old errors.
		old := e.reload(long)
		upd := old
		upd.Build = true
		must(t, e.Orch.Update(ctx, old, &upd, func(ctx context.Context) error { return e.Store.UpdateHost(ctx, &upd) }))
		b, err = e.Store.HostBuild(ctx, long.ID)
		if err != nil || b.BuildErrors != "" {
			t.Fatalf("errors after rebuild %q, %v", b.BuildErrors, err)
		}
	})
}

func TestTokensFollowBuildMode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		ctx := context.Background()
		before := time.Now()
		h := e.host(hostSpec{name: "cycle", mac: "52:54:00:00:09:01", build: true})
		tok, err := e.Store.BuildToken(ctx, h.ID)
		must(t, err)
		if tok.ExpiresAt.Before(before.Add(time.Hour-time.Second)) || tok.ExpiresAt.After(time.Now().Add(time.Hour)) {
			t.Fatalf("token expires at %v, want an hour from now", tok.ExpiresAt)
		}
		update := func(build bool) {
			old := e.reload(h)
			upd := old
			upd.Build = build
			must(t, e.Orch.Update(ctx, old, &upd, func(ctx context.Context) error { return e.Store.UpdateHost(ctx, &upd) }))
		}
		update(false)
		if _, err := e.Store.BuildToken(ctx, h.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token kept after build was switched off: %v", err)
		}
		update(true)
		if again := e.token(h); again == tok.Value {
			t.Fatal("a new build must get a new token")
		}
		// Deleting the host deletes its token.
		must(t, e.Store.DeleteHost(ctx, h.ID))
		if _, err := e.Store.BuildTokenByValue(ctx, tok.Value); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token of a deleted host: %v", err)
		}
	})
}

func TestTokenDurationZeroMeansNoTokens(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), envOptions{tokenDuration: 0})
	h := e.host(hostSpec{name: "notoken", mac: "52:54:00:00:0a:01", build: true})
	if _, err := e.Store.BuildToken(context.Background(), h.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("token created with token_duration 0: %v", err)
	}
	// Found by MAC; URLs carry no token.
	e.do(req{path: "/unattended/provision?mac=" + h.MAC}).expect(t, http.StatusOK, "").
		contains(t, "'"+unattendedURL+"/unattended/built'")
}

func TestConcurrentBuiltFinishOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		h := e.host(hostSpec{name: "race", mac: "52:54:00:00:0b:01", build: true})
		tok := e.token(h)
		statuses := make(chan int, 8)
		for i := 0; i < 8; i++ {
			go func() {
				statuses <- send(t, e.URL, req{method: http.MethodPost, path: "/unattended/built?token=" + tok, body: "log"}).status
			}()
		}
		created := 0
		for i := 0; i < 8; i++ {
			switch s := <-statuses; s {
			case http.StatusCreated:
				created++
			case http.StatusConflict, http.StatusNotFound, http.StatusMethodNotAllowed:
				// lost the race: the host had left build, or its token was gone
			default:
				t.Errorf("status %d", s)
			}
		}
		if created != 1 {
			t.Fatalf("%d requests finished the build, want exactly 1", created)
		}
	})
}
