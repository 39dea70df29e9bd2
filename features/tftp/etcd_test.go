package tftp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/httpboot"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// etcdNode is one proxy of the shared-state test: tftp on etcd with its own root,
// and httpboot serving that root.
type etcdNode struct {
	px   *proxytest.Proxy
	f    *Feature
	root string
	port int // TFTP
}

func startEtcdNode(t *testing.T, c *etcdtest.Cluster, name, root string) etcdNode {
	t.Helper()
	return startEtcdNodeWith(t, c, name, root, "")
}

// startEtcdNodeWith is startEtcdNode with more lines of tftp.yml.
func startEtcdNodeWith(t *testing.T, c *etcdtest.Cluster, name, root, extra string) etcdNode {
	t.Helper()
	f := New()
	tftpYML := fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: 127.0.0.1:0\n:state_backend: etcd\n:etcd_endpoints: [%s]\n"+
		":etcd_ca: %s\n:etcd_cert: %s\n:etcd_key: %s\n:etcd_prefix: /tftpha/\n:etcd_timeout: 2\n:etcd_node_name: %s\n",
		root, strings.Join(c.Endpoints(), ", "), c.CA.CAFile, c.Client.CertFile, c.Client.KeyFile, name) + extra
	px := proxytest.Start(t, "", map[string]string{
		"tftp.yml":     tftpYML,
		"httpboot.yml": ":enabled: http\n:root_dir: " + root + "\n",
	}, f, httpboot.New())
	if s := px.State("tftp"); s != "running" {
		t.Fatalf("tftp state %s", s)
	}
	return etcdNode{px: px, f: f, root: root, port: f.TFTPAddr().(*net.UDPAddr).Port}
}

// tftpGet fetches remote from the node with curl's TFTP client; ok false when it failed.
func (n etcdNode) tftpGet(t *testing.T, remote string) (string, bool) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "got")
	if _, ok := run("curl", "-sS", "-o", local, fmt.Sprintf("tftp://127.0.0.1:%d/%s", n.port, remote)); !ok {
		return "", false
	}
	b, err := os.ReadFile(local)
	return string(b), err == nil
}

// waitTFTP polls until the node's TFTP server sends want (or, want "", refuses the
// file) and returns how long that took.
func (n etcdNode) waitTFTP(t *testing.T, remote, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, ok := n.tftpGet(t, remote)
		if (want == "" && !ok) || (ok && got == want) {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("TFTP %s from port %d = %q (ok %v) after 30 s, want %q", remote, n.port, got, ok, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// postUntilAccepted repeats a POST until it is answered 200 (503 while the node is
// not connected to the cluster) for up to 30 s, and returns how long that took.
func (n etcdNode) postUntilAccepted(t *testing.T, path string, body url.Values) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := n.px.Do(t, "POST", path, body)
		if got.Status == 200 {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("POST %s on port %d = %d %q for 30 s after quorum returned", path, n.port, got.Status, got.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newRoot(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "tftpboot")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// Two proxies on one 3-member etcd cluster: a PXE config POSTed to A is fetched by a
// TFTP client (curl) and over httpboot from B, within a measured bound; defaults,
// pxegrub2 host-config trees and deletes travel too; a node that was down catches
// up, deletes included; without quorum writes get 503 while both serve their
// files; with quorum back both converge.
func TestConfigsOnEtcdServedByEveryNode(t *testing.T) {
	if _, ok := run("curl", "--version"); !ok {
		t.Skip("curl not installed")
	}
	cluster := etcdtest.Start(t, 3)
	a := startEtcdNode(t, cluster, "a", newRoot(t))
	b := startEtcdNode(t, cluster, "b", newRoot(t))

	var worst time.Duration
	for i := 1; i <= 10; i++ {
		mac := fmt.Sprintf("aa:bb:cc:dd:ee:%02x", i)
		cfg := fmt.Sprintf("DEFAULT host%d\n", i)
		expect(t, a.px.Do(t, "POST", "/tftp/PXELinux/"+mac, form("pxeconfig", cfg)), 200, "")
		worst = max(worst, b.waitTFTP(t, "pxelinux.cfg/01-"+dashed(mac), cfg))
	}
	t.Logf("PXE config POSTed to node A fetched by TFTP (curl) from node B within %s (worst of 10; curl's start included)", worst)
	var got proxytest.Response
	got = b.px.Do(t, "GET", "/httpboot/pxelinux.cfg/01-aa-bb-cc-dd-ee-01", nil)
	expect(t, got, 200, "DEFAULT host1\n")
	expect(t, b.px.Do(t, "GET", "/tftp/pxelinux/aa:bb:cc:dd:ee:01", nil), 200, "DEFAULT host1\n")

	// Default menus, and pxegrub2 with the bootloader fields (its host-config tree), through B.
	expect(t, b.px.Do(t, "POST", "/tftp/PXELinux/create_default", form("menu", "MENU shared\n")), 200, "")
	a.waitTFTP(t, "pxelinux.cfg/default", "MENU shared\n")
	expect(t, b.px.Do(t, "POST", "/tftp/PXEGrub2/aa:bb:cc:dd:ee:20", form("pxeconfig", "grub cfg\n", "targetos", "redhat", "release", "9", "arch", "x86_64", "bootfile_suffix", "x64")), 200, "")
	a.waitTFTP(t, "host-config/aa-bb-cc-dd-ee-20/grub2/grub.cfg", "grub cfg\n")
	if target, err := os.Readlink(filepath.Join(a.root, "host-config/aa-bb-cc-dd-ee-20/grub2/boot.efi")); err != nil || target != "../../../grub2/grubx64.efi" {
		t.Errorf("boot.efi on A -> %q, %v", target, err)
	}

	// A third node that was down while a config was deleted and another written.
	cRoot := newRoot(t)
	c := startEtcdNode(t, cluster, "c", cRoot)
	c.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-02", "DEFAULT host2\n")
	c.px.Registry.Stop(context.Background())
	expect(t, b.px.Do(t, "DELETE", "/tftp/pxelinux/aa:bb:cc:dd:ee:02", nil), 200, "")
	a.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-02", "")
	expect(t, a.px.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:30", form("pxeconfig", "late\n")), 200, "")
	c = startEtcdNode(t, cluster, "c", cRoot)
	c.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-30", "late\n")
	if _, err := os.Stat(filepath.Join(cRoot, "pxelinux.cfg/01-aa-bb-cc-dd-ee-02")); !os.IsNotExist(err) {
		t.Errorf("config deleted while node C was down is still on C: %v", err)
	}

	// Quorum lost: writes 503 with the reason, files still served.
	c.px.Registry.Stop(context.Background())
	cluster.Members[1].Kill()
	cluster.Members[2].Kill()
	// A node (re)started without quorum serves the files it has and refuses writes.
	c = startEtcdNode(t, cluster, "c", cRoot)
	c.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-30", "late\n")
	got = c.px.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:42", form("pxeconfig", "lost\n"))
	if got.Status != 503 || !strings.Contains(got.Body, "not connected yet") {
		t.Fatalf("POST to a node started without quorum = %d %q", got.Status, got.Body)
	}
	got = a.px.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:40", form("pxeconfig", "lost\n"))
	if got.Status != 503 || !strings.HasPrefix(got.Body, "TFTP: Failed to create pxe config file: etcd is unavailable") {
		t.Fatalf("POST without quorum = %d %q", got.Status, got.Body)
	}
	t.Logf("without quorum: %d %s", got.Status, got.Body)
	if got := b.px.Do(t, "DELETE", "/tftp/pxelinux/aa:bb:cc:dd:ee:01", nil); got.Status != 503 {
		t.Fatalf("DELETE without quorum = %d %q", got.Status, got.Body)
	}
	for _, n := range []etcdNode{a, b} {
		if got, ok := n.tftpGet(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-01"); !ok || got != "DEFAULT host1\n" {
			t.Errorf("without quorum TFTP on %d = %q %v", n.port, got, ok)
		}
	}
	if _, ok := a.tftpGet(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-40"); ok {
		t.Error("a refused write is served")
	}

	// Quorum back: writes accepted again, every node converges.
	cluster.Members[1].Restart(t)
	cluster.Members[2].Restart(t)
	cluster.WaitHealthy(30 * time.Second)
	took := b.postUntilAccepted(t, "/tftp/pxelinux/aa:bb:cc:dd:ee:41", form("pxeconfig", "back\n"))
	t.Logf("writes accepted again %s after the cluster answered", took.Round(time.Millisecond))
	for _, n := range []etcdNode{a, c} {
		n.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-41", "back\n")
	}
	// C retries its connection every 2 s, and writes the files it finds before it
	// counts as connected: serving "back" does not yet mean it takes writes.
	took = c.postUntilAccepted(t, "/tftp/pxelinux/aa:bb:cc:dd:ee:42", form("pxeconfig", "connected\n"))
	t.Logf("node C, started without quorum, accepted writes %s after B", took.Round(time.Millisecond))
	a.waitTFTP(t, "pxelinux.cfg/01-aa-bb-cc-dd-ee-42", "connected\n")
	if m := a.px.Do(t, "GET", "/metrics", nil); !strings.Contains(m.Body, "smartproxy_tftp_etcd_watch_up 1") {
		t.Errorf("metrics of A lack the watch state:\n%s", m.Body)
	}
}

// fetchStatusesOf reads the per-node fetch outcomes a node shows in /v2/features.
func fetchStatusesOf(t *testing.T, n etcdNode) map[string]map[string]fetchStatus {
	t.Helper()
	r := n.px.Do(t, "GET", "/v2/features", nil)
	var v map[string]struct {
		Settings struct {
			EtcdState struct {
				Fetches map[string]map[string]fetchStatus `json:"fetches"`
			} `json:"etcd_state"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
		t.Fatalf("/v2/features: %v: %s", err, r.Body)
	}
	return v["tftp"].Settings.EtcdState.Fetches
}

// fetch_boot_file and fetch_system_image sent to one node run on every node, each
// keeping its own copy, and every node shows each node's outcome.
func TestFetchesOnEtcdRunOnEveryNode(t *testing.T) {
	if _, ok := run("curl", "--version"); !ok {
		t.Skip("curl not installed")
	}
	cluster := etcdtest.Start(t, 3)
	a := startEtcdNode(t, cluster, "a", newRoot(t))
	b := startEtcdNode(t, cluster, "b", newRoot(t))

	m := newMediaServer(t, "kernel bytes")
	expect(t, a.px.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/centos-abc", "path", m.URL+"/media/vmlinuz")), 200, "")
	for _, n := range []etcdNode{a, b} {
		n.waitTFTP(t, "boot/centos-abc-vmlinuz", "kernel bytes")
	}
	waitFor(t, "both nodes report the boot file done", func() bool {
		st := fetchStatusesOf(t, b)
		return st["a"]["boot/boot/centos-abc-vmlinuz"].State == "done" && st["b"]["boot/boot/centos-abc-vmlinuz"].State == "done"
	})

	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed: fetch_system_image not tried")
	}
	iso := makeISO(t, isoContent, "-R", "-J")
	media := newMediaServer(t, string(iso))
	imgForm := imageForm(media.URL+"/media/ubuntu.iso", "ubuntu/ubuntu-24.04.iso", "boot/ubuntu-abc", "/casper/vmlinuz")
	pollUntilDone(t, b.px, imgForm)
	a.waitTFTP(t, "boot/ubuntu-abc-vmlinuz", isoContent["casper/vmlinuz"])
	waitFor(t, "both nodes report the image done", func() bool {
		st := fetchStatusesOf(t, a)
		return st["a"]["image/ubuntu/ubuntu-24.04.iso"].State == "done" && st["b"]["image/ubuntu/ubuntu-24.04.iso"].State == "done"
	})
	if got := readFile(t, filepath.Join(imageRoot(a.root), "ubuntu/ubuntu-24.04.iso")); got != string(iso) {
		t.Errorf("node A's copy of the image: %d bytes, want %d", len(got), len(iso))
	}
	if got := media.hits.Load(); got != 2 {
		t.Errorf("media server asked %d times, want once per node", got)
	}

	// A failed download is reported per node.
	m.mu.Lock()
	m.status = []int{404, 404}
	m.mu.Unlock()
	expect(t, b.px.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/missing", "path", m.URL+"/media/vmlinuz")), 200, "")
	waitFor(t, "both nodes report the failure", func() bool {
		st := fetchStatusesOf(t, a)
		return st["a"]["boot/boot/missing-vmlinuz"].State == "failed" && st["b"]["boot/boot/missing-vmlinuz"].State == "failed"
	})

	// Without quorum the request is refused (503), not run on one node only.
	cluster.Members[0].Kill()
	cluster.Members[1].Kill()
	got := a.px.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/lost", "path", m.URL+"/media/vmlinuz"))
	if got.Status != 503 || !strings.HasPrefix(got.Body, "TFTP: Failed to fetch boot file: etcd is unavailable") {
		t.Fatalf("fetch_boot_file without quorum = %d %q", got.Status, got.Body)
	}
	if _, err := os.Stat(filepath.Join(a.root, "boot/lost-vmlinuz")); !os.IsNotExist(err) {
		t.Errorf("a refused fetch ran: %v", err)
	}
}
