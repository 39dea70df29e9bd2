package httpboot

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// tree builds root/ (served) beside outside/ (not served) and starts the feature.
func start(t *testing.T, global, enabled string) (*proxytest.Proxy, string, string) {
	t.Helper()
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root + "/grub2", root + "/EFI", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		root + "/grub2/grubx64.efi": "grub binary",
		root + "/shimx64.efi":       "shim binary",
		root + "/EFI/inner.efi":     "inner",
		outside + "/secret":         "secret",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"link-inside":  "grub2/grubx64.efi",
		"link-abs-in":  root + "/shimx64.efi",
		"link-rel-out": "../outside/secret",
		"link-abs-out": outside + "/secret",
		"dir-out":      outside,
		"dangling":     "nope",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	p := proxytest.Start(t, global, map[string]string{
		"httpboot.yml": ":enabled: " + enabled + "\n:root_dir: " + root + "\n",
	}, New())
	return p, root, outside
}

// get sends a raw path (no client-side cleaning of ".." or %2e).
func get(t *testing.T, p *proxytest.Proxy, method, path string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestServesFilesUnderEveryPrefix(t *testing.T) {
	p, _, _ := start(t, "", "true")
	for path, want := range map[string]string{
		"/httpboot/grub2/grubx64.efi":    "grub binary",
		"/httpboot/shimx64.efi":          "shim binary",
		"/EFI/grub2/grubx64.efi":         "grub binary",
		"/EFI/BOOT/shimx64.efi":          "shim binary", // the prefix is dropped: root/shimx64.efi
		"/EFI/EFI/inner.efi":             "inner",
		"/httpboot/link-inside":          "grub binary",
		"/httpboot/link-abs-in":          "shim binary", // absolute link, but inside the root
		"/httpboot/grub2/../shimx64.efi": "shim binary",
		"/httpboot/grub2%2fgrubx64.efi":  "grub binary",
	} {
		status, body, _ := get(t, p, "GET", path)
		if status != 200 || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, status, body, want)
		}
	}
	status, body, h := get(t, p, "GET", "/httpboot/grub2/grubx64.efi", "Range", "bytes=5-10")
	if status != http.StatusPartialContent || body != "binary" {
		t.Errorf("range: %d %q", status, body)
	}
	if h.Get("Last-Modified") == "" {
		t.Error("no Last-Modified header")
	}
	if status, body, h := get(t, p, "HEAD", "/httpboot/shimx64.efi"); status != 200 || body != "" || h.Get("Content-Length") != "11" {
		t.Errorf("HEAD: %d %q %v", status, body, h)
	}
}

// refusal is one row of a status-and-message table.
type refusal struct {
	path, want string
	alsoOK     string // another acceptable answer, when a server limit may answer first
}

// A client's bad name is a 4xx with a fixed message: never a 5xx, never the name or
// the root echoed back, never a raw control byte.
func TestRefusals(t *testing.T) {
	p, root, _ := start(t, "", "true")
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock, err := net.Listen("unix", filepath.Join(root, "socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	for link, target := range map[string]string{"loop-a": "loop-b", "loop-b": "loop-a", "loop-abs": root + "/loop-abs"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	const tooLong = "414 Path too long: at most 255 bytes per file name, 3072 in all"
	for _, c := range []refusal{
		{path: "/httpboot/missing.efi", want: "404 Not found"},
		{path: "/httpboot/dangling", want: "404 Not found"},
		{path: "/httpboot/" + strings.Repeat("a", 255), want: "404 Not found"},
		{path: "/httpboot/" + strings.Repeat("a", 256), want: tooLong},
		{path: "/EFI/grub2/" + strings.Repeat("a", 256) + "/x", want: tooLong},
		{path: "/httpboot/" + strings.Repeat("a/", 1600), want: tooLong},
		{path: "/httpboot/" + strings.Repeat("a", 100<<10), want: tooLong, alsoOK: "431"},
		{path: "/httpboot/shimx64.efi/x", want: "404 Not found"},
		{path: "/EFI/BOOT/shimx64.efi/x", want: "404 Not found"},
		{path: "/httpboot/link-inside/x", want: "404 Not found"},
		{path: "/httpboot/shimx64.efi/%0a2026-12-06T02:00:00%20ffffffff%20[E]%20forged", want: "404 Not found"},
		{path: "/httpboot/loop-a", want: "404 Not found"},
		{path: "/httpboot/loop-abs", want: "404 Not found"},
		{path: "/httpboot/loop-a/x", want: "404 Not found"},
		{path: "/httpboot/fifo", want: "403 Not a regular file"},
		{path: "/httpboot/socket", want: "403 Not a regular file"},
		{path: "/httpboot/../outside/secret", want: "403 Invalid or empty path"},
		{path: "/httpboot/grub2/../../outside/secret", want: "403 Invalid or empty path"},
		{path: "/httpboot/%2e%2e/outside/secret", want: "403 Invalid or empty path"},
		{path: "/httpboot/..%2foutside%2fsecret", want: "403 Invalid or empty path"},
		{path: "/EFI/BOOT/../../outside/secret", want: "403 Invalid or empty path"},
		{path: "/httpboot/link-rel-out", want: "403 Invalid or empty path"},
		{path: "/httpboot/link-abs-out", want: "403 Invalid or empty path"},
		{path: "/httpboot/dir-out/secret", want: "403 Invalid or empty path"},
		{path: "/httpboot/", want: "403 Invalid or empty path"},
		{path: "/httpboot", want: "403 Invalid or empty path"},
		{path: "/EFI/.", want: "403 Invalid or empty path"},
		{path: "/httpboot/a%00b", want: "403 Invalid or empty path"},
		{path: "/httpboot/grub2", want: "403 Directory listing not allowed"},
		{path: "/EFI/BOOT/grub2/", want: "403 Directory listing not allowed"},
	} {
		status, body, _ := get(t, p, "GET", c.path)
		got := fmt.Sprintf("%d %s", status, body)
		name := c.path
		if len(name) > 80 {
			name = name[:80] + "..."
		}
		if got != c.want && (c.alsoOK == "" || !strings.HasPrefix(got, c.alsoOK)) {
			t.Errorf("GET %s: %q, want %q", name, got, c.want)
		}
		if strings.Contains(body, "secret") || strings.Contains(body, root) || strings.ContainsAny(body, "\n\r\x00") {
			t.Errorf("GET %s leaked: %q", name, body)
		}
	}
	if status, _, _ := get(t, p, "POST", "/httpboot/shimx64.efi"); status != 404 {
		t.Errorf("POST answered %d", status)
	}
}

// The routes are public: an empty trusted_hosts list (deny everybody) does not apply.
func TestPublicEvenWhenNoHostIsTrusted(t *testing.T) {
	p, _, _ := start(t, ":trusted_hosts: []\n", "true")
	if status, body, _ := get(t, p, "GET", "/httpboot/shimx64.efi"); status != 200 || body != "shim binary" {
		t.Fatalf("%d %q", status, body)
	}
	if status, _, _ := get(t, p, "GET", "/v2/features"); status != 403 {
		t.Fatalf("the control route answered %d: trusted_hosts is not in force", status)
	}
}

func TestExposedPorts(t *testing.T) {
	for enabled, want := range map[string]string{
		"true":  `"settings":{"http_port":8000,"https_port":8443}`,
		"http":  `"settings":{"http_port":8000,"https_port":null}`,
		"https": `"settings":{"http_port":null,"https_port":8443}`,
		"false": `"settings":{"http_port":null,"https_port":null}`,
	} {
		p, _, _ := start(t, "", enabled)
		r := p.Do(t, "GET", "/v2/features", nil)
		if !strings.Contains(r.Body, want) {
			t.Errorf("enabled %s: %s, want %s", enabled, r.Body, want)
		}
	}
	// Enabled everywhere but no global http_port: http_port is null (spec §7).
	f := New()
	sec := settings.NewSection("httpboot.yml", map[string]any{"enabled": true})
	if err := f.Configure(&registry.Env{Global: &settings.Global{HTTPSPort: 8443}, Settings: sec, Log: logrus.NewEntry(logrus.New())}); err != nil {
		t.Fatal(err)
	}
	if got := f.ExposedSettings(); got["http_port"] != nil || got["https_port"] != 8443 {
		t.Fatalf("exposed %v", got)
	}
}

func TestDisabledIsNotMounted(t *testing.T) {
	p, _, _ := start(t, "", "false")
	if status, body, _ := get(t, p, "GET", "/httpboot/shimx64.efi"); status != 404 || body != "Requested url was not found" {
		t.Fatalf("%d %q", status, body)
	}
}
