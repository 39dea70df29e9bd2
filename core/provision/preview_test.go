package provision_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

func TestPreviewNeedsALogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		installed := e.host(hostSpec{name: "installed", mac: "52:54:00:00:0c:01", ip: "192.0.2.40"})
		building := e.host(hostSpec{name: "building", mac: "52:54:00:00:0c:02", ip: "192.0.2.41", build: true})
		admin := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin-password"))}

		// Without a login: refused by the API's authentication, nothing rendered.
		if r := e.do(req{path: "/unattended/provision?hostname=" + installed.Name}); r.status != http.StatusUnauthorized {
			t.Fatalf("preview without login: %d %q", r.status, r.body)
		}
		// An admin sees the build template of a host not in build (no token in it)...
		e.do(req{path: "/unattended/provision?hostname=" + installed.Name, header: admin}).expect(t, http.StatusOK, "").
			contains(t, "--hostname=installed.example.test", "'"+unattendedURL+"/unattended/built'")
		// ... and by IP, of a host in build, with its token.
		e.do(req{path: "/unattended/PXELinux?spoof=192.0.2.41", header: admin}).expect(t, http.StatusOK, "").
			contains(t, "token="+e.token(building))
		// iPXE of a host not in build: its local boot, as the firmware would get.
		e.do(req{path: "/unattended/iPXE?spoof=192.0.2.40", header: admin}).expect(t, http.StatusOK, "").contains(t, "exit 1\n")
		e.do(req{path: "/unattended/provision?hostname=nope.example.test", header: admin}).
			expect(t, http.StatusNotFound, "unattended: unable to find a host that matches the request from 127.0.0.1")
		// A preview changes nothing.
		if e.reload(installed).Build || !e.reload(building).Build {
			t.Fatal("a preview changed build mode")
		}
	})
}
