package pxeboot_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

// TestIPXETemplateThroughProxy is Foreman's iPXE flow: the iPXE ROM gets
// http://<proxy>/unattended/iPXE as its boot file from the embedded DHCP server, the
// templates feature relays the request to Foreman with the host's address in
// X-Forwarded-For, and the script Foreman renders for that host runs on the guest.
func TestIPXETemplateThroughProxy(t *testing.T) {
	qemu := pxeboot.RequireQEMU(t)
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)
	marker := fmt.Sprintf("SPTEMPLATE-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	foreman, seen := startForemanInNS(t, ns, marker)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	if err := os.MkdirAll(tftproot, 0o755); err != nil {
		t.Fatal(err)
	}
	proxyURL := "http://" + serverIP + ":8000"
	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1", serverIP},
		subnet:    "    :filename: pxelinux.0\n    :ipxe_filename: " + proxyURL + "/unattended/iPXE\n",
		settings:  map[string]string{"templates.yml": ":enabled: true\n:template_url: " + proxyURL + "\n"},
		features:  []string{"templates"},
		global:    ":foreman_url: " + foreman + "\n",
	})
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {guestMAC}, "ip": {guestIP}, "hostname": {"template-guest.example.test"},
		"nextServer": {serverIP},
	})

	console := bootBIOS(t, qemu, ns, tap, marker)
	if !strings.Contains(console, marker+" ip="+guestIP) {
		t.Fatalf("the script Foreman rendered did not run:\n%s", console)
	}
	waitLog(t, proxyLog, `"GET /unattended/iPXE HTTP/1.1" 200`)
	got := seen()
	if len(got) != 1 || got[0].path != "/unattended/iPXE" || got[0].forwardedFor != guestIP {
		t.Fatalf("Foreman saw %+v, want one GET /unattended/iPXE for %s", got, guestIP)
	}
}

// foremanRequest is what the stand-in Foreman saw of a request.
type foremanRequest struct {
	path, forwardedFor string
}

// startForemanInNS serves a stand-in Foreman on the namespace's loopback (the proxy
// runs there): /unattended/iPXE answers an iPXE script that prints marker, for the
// host the proxy names in X-Forwarded-For. It returns the URL and the requests seen.
func startForemanInNS(t *testing.T, ns, marker string) (string, func() []foremanRequest) {
	t.Helper()
	var ln net.Listener
	if err := pxeboot.InNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []foremanRequest
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Header.Get("X-Forwarded-For")
		mu.Lock()
		seen = append(seen, foremanRequest{path: r.URL.Path, forwardedFor: host})
		mu.Unlock()
		if r.URL.Path != "/unattended/iPXE" || host == "" {
			http.Error(w, "unknown host", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "#!ipxe\necho %s ip=%s\n", marker, host)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), func() []foremanRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]foremanRequest(nil), seen...)
	}
}
