package tftp

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startVsftpd serves root anonymously, read-only, on a free loopback port with a real
// vsftpd (Debian package vsftpd) and returns the port.
func startVsftpd(t *testing.T, root string) int {
	t.Helper()
	bin, err := exec.LookPath("vsftpd")
	if err != nil {
		t.Skip("vsftpd is not installed; .ci/run installs it")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; .ci/run installs it")
	}
	if os.Geteuid() != 0 {
		t.Skip("vsftpd runs as root (it drops to its ftp user itself)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	empty := filepath.Join(filepath.Dir(root), "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(filepath.Dir(root), "vsftpd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=%d
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=%s
local_enable=NO
write_enable=NO
secure_chroot_dir=%s
seccomp_sandbox=NO
pasv_enable=YES
pasv_address=127.0.0.1
xferlog_enable=NO
`, port, root, empty)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, "vsftpd to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return port
}

// An ftp:// installation medium (spec §5.3) is fetched from a real FTP server, and
// again only when the remote file is newer than the local copy; a missing one leaves
// nothing behind.
func TestFetchBootFileOverFTP(t *testing.T) {
	// vsftpd's unprivileged user must be able to read the tree: not under t.TempDir's 0700.
	base, err := os.MkdirTemp("", "spftp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	media := filepath.Join(base, "root")
	if err := os.MkdirAll(filepath.Join(media, "pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	kernel := strings.Repeat("ftp kernel bytes ", 20000)
	remote := filepath.Join(media, "pub", "vmlinuz")
	if err := os.WriteFile(remote, []byte(kernel), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(remote, old, old); err != nil {
		t.Fatal(err)
	}
	port := startVsftpd(t, media)

	p, f, root := startAPI(t, "")
	url := fmt.Sprintf("ftp://127.0.0.1:%d/pub/vmlinuz", port)
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/ftp", "path", url)), 200, "")
	idle(t, f)
	dst := filepath.Join(root, "boot", "ftp-vmlinuz")
	if got := readFile(t, dst); got != kernel {
		t.Fatalf("downloaded %d bytes, want %d", len(got), len(kernel))
	}

	// The local copy is newer than the remote file: a second request keeps it.
	if err := os.WriteFile(dst, []byte("local copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/ftp", "path", url)), 200, "")
	idle(t, f)
	if got := readFile(t, dst); got != "local copy" {
		t.Fatalf("an older remote file replaced the local one (%d bytes)", len(got))
	}

	// A remote file newer than the local copy replaces it.
	newer := time.Now().Add(time.Hour)
	if err := os.Chtimes(remote, newer, newer); err != nil {
		t.Fatal(err)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/ftp", "path", url)), 200, "")
	idle(t, f)
	if got := readFile(t, dst); got != kernel {
		t.Fatalf("a newer remote file did not replace the local one (%d bytes)", len(got))
	}

	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/ftp", "path", url+".missing")), 200, "")
	idle(t, f)
	if _, err := os.Stat(filepath.Join(root, "boot", "ftp-vmlinuz.missing")); !os.IsNotExist(err) {
		t.Fatalf("a failed download left a file: %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(root, "boot", ".*.part")); len(leftovers) > 0 {
		t.Fatalf("partial files left: %v", leftovers)
	}
}
