package tftp

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartproxy/smartproxy/features/tftp/tftpd"
)

// FuzzRequestPath: whatever a client puts in a read request, the file served is one
// under the root; the secret beside the root (reachable by .., by absolute and relative
// symlinks, by encodings) never comes back.
func FuzzRequestPath(f *testing.F) {
	dir := f.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root + "/pxelinux.cfg", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	secret := []byte("TOP-SECRET")
	for p, c := range map[string][]byte{outside + "/secret": secret, root + "/pxelinux.cfg/default": []byte("menu")} {
		if err := os.WriteFile(p, c, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for link, target := range map[string]string{"abs": outside + "/secret", "rel": "../outside/secret", "dir": outside, "ok": "pxelinux.cfg/default"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{
		"pxelinux.cfg/default", "/pxelinux.cfg/default", "ok", "abs", "rel", "dir/secret", "../outside/secret",
		`..\outside\secret`, "%2e%2e/outside/secret", "%252e%252e%252foutside/secret", outside + "/secret",
		"pxelinux.cfg/../../outside/secret", "./././../outside/secret", "pxelinux.cfg\x00/../x",
	} {
		f.Add(append(append([]byte("\x00\x01"), seed...), "\x00octet\x00"...))
	}
	feature := &Feature{cfg: config{root: root}}
	src := feature.source()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		req, err := tftpd.ParseRequest(pkt)
		if err != nil {
			return
		}
		c, err := src.Open(context.Background(), netip.MustParseAddrPort("127.0.0.1:1000"), req)
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		if bytes.Contains(b, secret) {
			t.Fatalf("request %q served the secret outside the root", req.Filename)
		}
	})
}
