package pxeboot_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

const (
	guestMAC  = "52:54:00:99:00:01"
	guestIP   = "10.98.0.50"
	serverIP  = "10.98.0.1"
	pxelinux  = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinux   = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	apiAddr   = "127.0.0.1:8000"  // loopback of the test namespace, not the host's
	bootLimit = 180 * time.Second // a few seconds on a quiet machine; TCG on a loaded one is many times slower
)

// TestPXEBootFromProxy boots QEMU's BIOS + iPXE client on a tap inside a fresh network
// namespace, served only by the proxy binary running in that namespace.
func TestPXEBootFromProxy(t *testing.T) {
	qemu := requirements(t)
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	for _, f := range []string{pxelinux, ldlinux} {
		copyFile(t, f, filepath.Join(tftproot, filepath.Base(f)))
	}
	api, _ := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1"},
		subnet:    "    :filename: pxelinux.0\n",
	})

	// What Foreman sends when a host is built: the reservation, then the per-MAC config.
	marker := fmt.Sprintf("SPPXE-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {guestMAC}, "ip": {guestIP}, "hostname": {"pxe-guest.example.test"},
		"nextServer": {serverIP}, "filename": {"pxelinux.0"},
	})
	api.post(t, "/tftp/PXELinux/"+guestMAC, url.Values{"pxeconfig": {
		"SERIAL 0 115200\nSAY " + marker + " per-MAC config loaded\nDEFAULT local\nPROMPT 0\nTIMEOUT 1\nLABEL local\n  LOCALBOOT -1\n",
	}})

	console := bootBIOS(t, qemu, ns, tap, marker)
	if !strings.Contains(console, "net0: "+guestIP+"/") {
		t.Fatalf("iPXE did not get the reserved address %s:\n%s", guestIP, console)
	}
	if !strings.Contains(console, "tftp://"+serverIP+"/pxelinux.0") {
		t.Fatalf("iPXE did not fetch pxelinux.0 from %s:\n%s", serverIP, console)
	}
}

// requirements skips unless the test can make namespaces and the PXE peers are installed.
func requirements(t *testing.T) string {
	t.Helper()
	qemu := pxeboot.RequireQEMU(t)
	for _, f := range []string{pxelinux, ldlinux} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing (apt-get install pxelinux syslinux-common)", f)
		}
	}
	return qemu
}

// apiClient talks to the proxy's REST API on the namespace's loopback.
type apiClient struct{ http *http.Client }

func (a apiClient) post(t *testing.T, path string, form url.Values) {
	t.Helper()
	resp, err := a.http.PostForm("http://"+apiAddr+path, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
}

// proxyConfig is what differs between the boot flows.
type proxyConfig struct {
	bindHosts []string          // HTTP listeners; add serverIP when the guest uses HTTP
	subnet    string            // extra YAML keys of the 10.98.0.0 subnet (boot files)
	settings  map[string]string // extra settings.d files by name
	features  []string          // features that must be running besides dhcp and tftp
	global    string            // extra settings.yml lines
}

// startProxy builds the real binary and runs it inside ns: the embedded TFTP server
// opens a socket per transfer, so the whole process has to live in the namespace.
// It returns the API client and the proxy's log.
func startProxy(t *testing.T, ns, tap, dir, tftproot string, pc proxyConfig) (apiClient, *pxeboot.SyncBuffer) {
	t.Helper()
	bin := filepath.Join(dir, "smart-proxy")
	build := exec.Command("go", "build", "-o", bin, "github.com/smartproxy/smartproxy/cmd/smart-proxy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sd := filepath.Join(dir, "settings.d")
	writeFile(t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(
		":settings_directory: %s\n:http_port: 8000\n:bind_host: ['%s']\n:log_file: STDOUT\n:log_level: DEBUG\n%s",
		sd, strings.Join(pc.bindHosts, "', '"), pc.global))
	writeFile(t, filepath.Join(sd, "dhcp.yml"), ":enabled: true\n:ping_free_ip: false\n")
	writeFile(t, filepath.Join(sd, "dhcp_embedded.yml"), fmt.Sprintf(`:interfaces: [%s]
:state_dir: %s
:fsync: false
:subnets:
  - :network: 10.98.0.0
    :netmask: 255.255.255.0
    :routers: [%s]
    :next_server: %s
%s`, tap, filepath.Join(dir, "dhcpstate"), serverIP, serverIP, pc.subnet))
	writeFile(t, filepath.Join(sd, "tftp.yml"), fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: %s:69\n", tftproot, serverIP))
	for name, content := range pc.settings {
		writeFile(t, filepath.Join(sd, name), content)
	}

	logBuf := &pxeboot.SyncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--settings", filepath.Join(dir, "settings.yml"))
	cmd.Stdout = logBuf
	cmd.Stderr = logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("proxy log:\n%s", logBuf.String())
		}
	})

	api := apiClient{http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       pxeboot.DialIn(ns),
	}}}
	// Ready when all features report running; a failed feature fails the test now.
	want := append([]string{"dhcp", "tftp"}, pc.features...)
	deadline := time.Now().Add(60 * time.Second) // a start on a loaded machine
	for {
		resp, err := api.http.Get("http://" + apiAddr + "/features")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && containsAll(body, want) {
				return api, logBuf
			}
			if time.Now().After(deadline) {
				t.Fatalf("features: %d %s\nlog:\n%s", resp.StatusCode, body, logBuf.String())
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("proxy did not come up: %v\nlog:\n%s", err, logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// containsAll reports whether the /features body names every feature in want.
func containsAll(body []byte, want []string) bool {
	for _, f := range want {
		if !bytes.Contains(body, []byte(`"`+f+`"`)) {
			return false
		}
	}
	return true
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

// TestIPXEConfigFromProxy boots the iPXE option ROM, which the embedded DHCP server
// recognises by its user class and sends to :ipxe_filename: over TFTP; that script
// chains pxelinux.cfg/01-${mac:hexhyp}.ipxe, the file POST /tftp/iPXE/<mac> wrote.
func TestIPXEConfigFromProxy(t *testing.T) {
	qemu := pxeboot.RequireQEMU(t)
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	writeFile(t, filepath.Join(tftproot, "chain.ipxe"), "#!ipxe\nchain pxelinux.cfg/01-${mac:hexhyp}.ipxe\n")
	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1"},
		subnet:    "    :filename: pxelinux.0\n    :ipxe_filename: chain.ipxe\n",
	})
	marker := fmt.Sprintf("SPIPXE-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {guestMAC}, "ip": {guestIP}, "hostname": {"ipxe-guest.example.test"},
		"nextServer": {serverIP},
	})
	api.post(t, "/tftp/iPXE/"+guestMAC, url.Values{"pxeconfig": {"#!ipxe\necho " + marker + " mac=${mac}\n"}})

	console := bootBIOS(t, qemu, ns, tap, marker)
	if !strings.Contains(console, marker+" mac="+guestMAC) {
		t.Fatalf("iPXE did not run the per-MAC script:\n%s", console)
	}
	waitLog(t, proxyLog, `TFTP: sent "chain.ipxe"`)
	waitLog(t, proxyLog, `TFTP: sent "pxelinux.cfg/01-`+strings.ReplaceAll(guestMAC, ":", "-")+`.ipxe"`)
}

// bootBIOS boots the guest with guestMAC through the BIOS iPXE ROM until marker shows.
func bootBIOS(t *testing.T, qemu, ns, tap, marker string) string {
	t.Helper()
	return pxeboot.BootBIOS(t, qemu, ns, tap, guestMAC, marker, bootLimit)
}
