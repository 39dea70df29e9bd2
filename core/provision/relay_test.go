package provision_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// TestThroughTheProxyTemplatesRelay puts the real smart proxy's templates feature
// (registry + server, foreman_url = the core) between the installer and the core, as
// in a real build: the relay adds url=<template_url> and X-Forwarded-For, and answers
// the installer 200 for the core's 201.
func TestThroughTheProxyTemplatesRelay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		const templateURL = "http://proxy.test:8000"
		proxy := proxytest.Start(t, ":foreman_url: "+e.URL+"\n",
			map[string]string{"templates.yml": ":enabled: true\n:template_url: " + templateURL + "\n"}, templates.New())
		via := func(r req) reply { r.baseURL = proxy.URL; return e.do(r) }

		h := e.host(hostSpec{name: "relayed", mac: "52:54:00:00:30:01", ip: "192.0.2.30", build: true})
		tok := e.token(h)
		// Anaconda fetches its kickstart by token, sending its MACs.
		ks := via(req{path: "/unattended/provision?token=" + tok, from: "127.0.0.7",
			header: map[string]string{"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:00:30:01", "User-Agent": "anaconda/34"}})
		if ks.status != http.StatusOK {
			t.Fatalf("kickstart through the relay: %d %s", ks.status, ks.body)
		}
		ks.contains(t, "url --url=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os\n",
			"--silent '"+templateURL+"/unattended/built?token="+tok+"'", "'"+templateURL+"/unattended/failed?token="+tok+"'")
		checkKickstart(t, ks.body)

		// The kickstart's %post calls built through the proxy with its log.
		built := via(req{method: http.MethodPost, path: "/unattended/built?token=" + tok, from: "127.0.0.7",
			body: "install log line 1install log line 2", header: map[string]string{"Content-Type": "text/plain", "User-Agent": "curl/7.88.1"}})
		if built.status != http.StatusOK {
			t.Fatalf("built through the relay: %d %s", built.status, built.body)
		}
		if e.reload(h).Build {
			t.Fatal("host still in build after built through the relay")
		}
		if _, err := e.Store.BuildToken(context.Background(), h.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token kept: %v", err)
		}
		if calls := e.Finisher.calls(); len(calls) != 1 || calls[0].ID != h.ID {
			t.Fatalf("finisher calls %+v", calls)
		}

		// Without token or MAC the core finds the host by the address the relay
		// forwards (127.0.0.1, the relay, is a trusted proxy).
		byIP := e.host(hostSpec{name: "byip", mac: "52:54:00:00:30:02", ip: "127.0.0.8", build: true})
		via(req{path: "/unattended/iPXE", from: "127.0.0.8", header: map[string]string{"User-Agent": "iPXE/1.21.1"}}).
			contains(t, "#!ipxe\n", "inst.ks="+templateURL+"/unattended/provision?token="+e.token(byIP))
		// The core's refusals reach the installer with their status and text.
		miss := via(req{path: "/unattended/provision", from: "127.0.0.9"})
		if miss.status != http.StatusNotFound ||
			!strings.HasSuffix(miss.body, "unattended: unable to find a host that matches the request from 127.0.0.1") {
			t.Fatalf("unknown host through the relay: %d %q", miss.status, miss.body)
		}
	})
}
