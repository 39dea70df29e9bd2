package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/metrics"
)

// peer is a real TFTP client program.
type peer struct {
	name     string
	bin      string
	blksizes []int
	// get fetches remote into local; ok is false when the client reported a failure.
	get func(t *testing.T, port int, remote, local string, blksize int, extra ...string) (out string, ok bool)
}

func run(name string, args ...string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err == nil
}

var peers = []peer{
	{name: "curl", bin: "curl", blksizes: []int{512, 1468, 8192},
		get: func(t *testing.T, port int, remote, local string, blksize int, extra ...string) (string, bool) {
			args := append([]string{"-sS", "--path-as-is", "--tftp-blksize", strconv.Itoa(blksize), "-o", local}, extra...)
			return run("curl", append(args, fmt.Sprintf("tftp://127.0.0.1:%d/%s", port, remote))...)
		}},
	{name: "atftp", bin: "atftp", blksizes: []int{512, 1468, 8192},
		get: func(t *testing.T, port int, remote, local string, blksize int, extra ...string) (string, bool) {
			args := []string{"--get", "-r", remote, "-l", local}
			if blksize != 512 {
				args = append(args, "--option", "blksize "+strconv.Itoa(blksize))
			}
			args = append(args, extra...)
			return run("atftp", append(args, "127.0.0.1", strconv.Itoa(port))...)
		}},
	// tftp-hpa's client only speaks plain RFC 1350 (512-byte blocks), like a PXE ROM,
	// and exits 0 even on errors: the output tells.
	{name: "tftp-hpa", bin: "tftp", blksizes: []int{512},
		get: func(t *testing.T, port int, remote, local string, _ int, _ ...string) (string, bool) {
			out, ok := run("tftp", "-m", "binary", "127.0.0.1", strconv.Itoa(port), "-c", "get", remote, local)
			return out, ok && !strings.Contains(strings.ToLower(out), "error")
		}},
}

func needPeer(t *testing.T, p peer) {
	t.Helper()
	if _, err := exec.LookPath(p.bin); err != nil {
		t.Skipf("%s (%s) is not installed; .ci/run installs it", p.name, p.bin)
	}
}

// logLines collects the feature's log messages.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Levels() []logrus.Level { return logrus.AllLevels }
func (l *logLines) Fire(e *logrus.Entry) error {
	l.mu.Lock()
	l.lines = append(l.lines, e.Message)
	l.mu.Unlock()
	return nil
}
func (l *logLines) find(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// startTFTP runs the feature with its UDP server on an ephemeral loopback port.
func startTFTP(t *testing.T) (*proxytest.Proxy, *Feature, string, int, *logLines) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tftpboot")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	f := New()
	p := proxytest.Start(t, "", map[string]string{
		"tftp.yml": ":enabled: true\n:tftproot: " + root + "\n:listen: 127.0.0.1:0\n:retransmit_timeout: 1\n",
	}, f)
	if s := p.State("tftp"); s != "running" {
		t.Fatalf("tftp state %s", s)
	}
	addr := f.TFTPAddr()
	if addr == nil {
		t.Fatal("no TFTP server address")
	}
	logs := &logLines{}
	f.log.Logger.AddHook(logs)
	return p, f, root, addr.(*net.UDPAddr).Port, logs
}

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// Files written through the API (configs, and a boot file fetched over HTTP) are
// served byte-identical to every client at every block size it supports.
func TestPeersFetchFilesWrittenByTheAPI(t *testing.T) {
	p, f, _, port, _ := startTFTP(t)
	kernel := make([]byte, 300_001)
	_, _ = rand.Read(kernel)
	media := newMediaServer(t, string(kernel))
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/centos9-x1", "path", media.URL+"/os/vmlinuz")), 200, "")
	idle(t, f)
	pxe := "DEFAULT linux\nLABEL linux\n  KERNEL boot/centos9-x1-vmlinuz\n"
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/52:54:00:99:00:01", form("pxeconfig", pxe)), 200, "")
	grub := strings.Repeat("menuentry 'x' { linux boot/centos9-x1-vmlinuz }\n", 100) // several blocks
	expect(t, p.Do(t, "POST", "/tftp/PXEGrub2/52:54:00:99:00:01", form("pxeconfig", grub)), 200, "")
	want := map[string][]byte{
		"boot/centos9-x1-vmlinuz":             kernel,
		"pxelinux.cfg/01-52-54-00-99-00-01":   []byte(pxe),
		"grub2/grub.cfg-01-52-54-00-99-00-01": []byte(grub),
	}
	dl := t.TempDir()
	transfers := 0
	for _, pr := range peers {
		t.Run(pr.name, func(t *testing.T) {
			needPeer(t, pr)
			for _, bs := range pr.blksizes {
				for name, content := range want {
					local := filepath.Join(dl, fmt.Sprintf("%s-%d-%s", pr.name, bs, filepath.Base(name)))
					out, ok := pr.get(t, port, name, local, bs)
					got, _ := os.ReadFile(local)
					if !ok || !bytes.Equal(got, content) {
						t.Fatalf("%s blksize %d %s: ok=%v, got %d bytes, want %d\n%s", pr.name, bs, name, ok, len(got), len(content), out)
					}
					transfers++
				}
			}
		})
	}
	// The server counts a transfer when the client's last ACK arrives, which may be
	// just after the client exited.
	waitFor(t, fmt.Sprintf("%d completed transfers", transfers), func() bool {
		st := f.Stats()
		return st.Completed == uint64(transfers) && st.Active == 0 && st.BytesSent > uint64(transfers)*100
	})
	var page strings.Builder
	f.WriteMetrics(metrics.NewWriter(&page))
	if want := fmt.Sprintf("smartproxy_tftp_transfers_total{outcome=\"completed\"} %d\n", transfers); !strings.Contains(page.String(), want) {
		t.Errorf("metrics page lacks %q:\n%s", want, page.String())
	}
}

// 50 MB is more than 65535 blocks at 512 bytes: the block number wraps.
func TestPeersFetch50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB transfers skipped in -short mode")
	}
	_, _, root, port, _ := startTFTP(t)
	content := randomFile(t, filepath.Join(root, "images/big.img"), 50_000_000)
	want := sha256.Sum256(content)
	dl := t.TempDir()
	for _, pr := range []peer{peers[0], peers[2]} { // curl and tftp-hpa: both lockstep at 512
		t.Run(pr.name, func(t *testing.T) {
			needPeer(t, pr)
			local := filepath.Join(dl, pr.name)
			out, ok := pr.get(t, port, "images/big.img", local, 512)
			got, _ := os.ReadFile(local)
			if !ok || sha256.Sum256(got) != want {
				t.Fatalf("%s: ok=%v, %d bytes, sha256 mismatch\n%s", pr.name, ok, len(got), out)
			}
		})
	}
}

// atftp negotiates RFC 7440 windowsize; the server grants it and logs the transfer.
func TestAtftpWindowsize(t *testing.T) {
	pr := peers[1]
	needPeer(t, pr)
	_, _, root, port, logs := startTFTP(t)
	content := randomFile(t, filepath.Join(root, "w.bin"), 2_000_000)
	local := filepath.Join(t.TempDir(), "w.bin")
	out, ok := pr.get(t, port, "w.bin", local, 1468, "--option", "windowsize 16")
	got, _ := os.ReadFile(local)
	if !ok || !bytes.Equal(got, content) {
		t.Fatalf("ok=%v, %d bytes\n%s", ok, len(got), out)
	}
	if !logs.find(`sent "w.bin"`) || !logs.find("blksize 1468, windowsize 16") {
		t.Fatalf("no transfer log line with the negotiated window: %v", logs.lines)
	}
}

// Every way out of the root fails, for every client, and nothing of the secret leaks.
func TestPeersCannotLeaveTheRoot(t *testing.T) {
	_, f, root, port, _ := startTFTP(t)
	outside := filepath.Join(filepath.Dir(root), "outside")
	secret := []byte("secret outside the root\n")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"leak-abs": filepath.Join(outside, "secret"),
		"leak-rel": "../outside/secret",
		"leakdir":  outside,
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	attempts := []string{
		"../outside/secret",
		"sub/../../outside/secret",
		"/../outside/secret",
		`..\outside\secret`,
		`sub\..\..\outside\secret`,
		"%2e%2e/outside/secret",
		"%252e%252e/outside/secret",
		"..%2foutside%2fsecret",
		filepath.Join(outside, "secret"), // absolute: looked up inside the root
		"leak-abs",
		"leak-rel",
		"leakdir/secret",
		"sub",
	}
	dl := t.TempDir()
	for _, pr := range peers {
		t.Run(pr.name, func(t *testing.T) {
			needPeer(t, pr)
			for i, name := range attempts {
				local := filepath.Join(dl, fmt.Sprintf("%s-%d", pr.name, i))
				before := f.Stats().Refused
				out, ok := pr.get(t, port, name, local, 512)
				got, _ := os.ReadFile(local)
				if ok || bytes.Contains(got, secret[:10]) {
					t.Errorf("%s fetched %q: ok=%v, got %q\n%s", pr.name, name, ok, got, out)
				}
				// The request reached the server and was answered with a TFTP error.
				if f.Stats().Refused != before+1 {
					t.Errorf("%s %q: not refused by the server (%+v)\n%s", pr.name, name, f.Stats(), out)
				}
			}
		})
	}
	waitFor(t, "only refusals counted", func() bool {
		st := f.Stats()
		return st.Active == 0 && st.Completed == 0 && st.Refused > 0
	})
}

// A pxelinux client asks for pxelinux.cfg/01-<its MAC, lower case, dashes>: that is
// the file POST /tftp/PXELinux/<mac> wrote, whatever case Foreman sent the MAC in.
func TestPxelinuxFindsTheAPIConfig(t *testing.T) {
	pr := peers[2] // tftp-hpa: plain RFC 1350 like pxelinux's PXE stack
	needPeer(t, pr)
	p, _, _, port, _ := startTFTP(t)
	hw, _ := net.ParseMAC("52:54:00:AB:CD:EF")
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/"+strings.ToUpper(hw.String()), form("pxeconfig", "SAY per-host\n")), 200, "")
	octets := make([]string, len(hw))
	for i, b := range hw {
		octets[i] = fmt.Sprintf("%02x", b)
	}
	asked := "pxelinux.cfg/01-" + strings.Join(octets, "-") // ARP type 1 (Ethernet), as pxelinux builds it
	local := filepath.Join(t.TempDir(), "cfg")
	if out, ok := pr.get(t, port, asked, local, 512); !ok {
		t.Fatalf("fetching %s: %s", asked, out)
	}
	if got, _ := os.ReadFile(local); string(got) != "SAY per-host\n" {
		t.Fatalf("got %q", got)
	}
}

// A dynamic file is rendered per request and never written to disk; when the renderer
// declines (fs.ErrNotExist) the file on disk answers.
func TestDynamicFiles(t *testing.T) {
	pr := peers[0]
	needPeer(t, pr)
	root := filepath.Join(t.TempDir(), "tftpboot")
	f := New()
	err := f.ServeDynamic("pxelinux.cfg/01-*.ipxe", func(_ context.Context, name string, client netip.AddrPort) ([]byte, error) {
		if strings.Contains(name, "01-00-00-00") {
			return nil, fs.ErrNotExist
		}
		return []byte("#!ipxe\necho " + name + " for " + client.Addr().String() + "\n"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ServeDynamic("[", nil); err == nil {
		t.Fatal("a bad pattern was accepted")
	}
	p := proxytest.Start(t, "", map[string]string{"tftp.yml": ":enabled: true\n:tftproot: " + root + "\n:listen: 127.0.0.1:0\n"}, f)
	port := f.TFTPAddr().(*net.UDPAddr).Port
	expect(t, p.Do(t, "POST", "/tftp/iPXE/00:00:00:00:00:01", form("pxeconfig", "#!ipxe\necho from disk\n")), 200, "")
	dl := t.TempDir()
	for name, want := range map[string]string{
		"pxelinux.cfg/01-52-54-00-00-00-02.ipxe":  "#!ipxe\necho pxelinux.cfg/01-52-54-00-00-00-02.ipxe for 127.0.0.1\n",
		"/pxelinux.cfg/01-52-54-00-00-00-03.ipxe": "#!ipxe\necho pxelinux.cfg/01-52-54-00-00-00-03.ipxe for 127.0.0.1\n",
		"pxelinux.cfg/01-00-00-00-00-00-01.ipxe":  "#!ipxe\necho from disk\n",
	} {
		local := filepath.Join(dl, filepath.Base(name))
		if out, ok := pr.get(t, port, name, local, 512); !ok {
			t.Fatalf("%s: %s", name, out)
		}
		if got, _ := os.ReadFile(local); string(got) != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "pxelinux.cfg/01-52-54-00-00-00-02.ipxe")); !os.IsNotExist(err) {
		t.Errorf("a dynamic file was written to disk: %v", err)
	}
}
