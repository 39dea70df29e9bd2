package httpboot

import (
	"fmt"
	"io"
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

func TestRefusals(t *testing.T) {
	p, root, _ := start(t, "", "true")
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/httpboot/missing.efi":                "404 Not found",
		"/httpboot/dangling":                   "404 Not found",
		"/httpboot/../outside/secret":          "403 Invalid or empty path",
		"/httpboot/grub2/../../outside/secret": "403 Invalid or empty path",
		"/httpboot/%2e%2e/outside/secret":      "403 Invalid or empty path",
		"/httpboot/..%2foutside%2fsecret":      "403 Invalid or empty path",
		"/EFI/BOOT/../../outside/secret":       "403 Invalid or empty path",
		"/httpboot/link-rel-out":               "403 Invalid or empty path",
		"/httpboot/link-abs-out":               "403 Invalid or empty path",
		"/httpboot/dir-out/secret":             "403 Invalid or empty path",
		"/httpboot/":                           "403 Invalid or empty path",
		"/httpboot":                            "403 Invalid or empty path",
		"/EFI/.":                               "403 Invalid or empty path",
		"/httpboot/a%00b":                      "403 Invalid or empty path",
		"/httpboot/grub2":                      "403 Directory listing not allowed",
		"/EFI/BOOT/grub2/":                     "403 Directory listing not allowed",
		"/httpboot/fifo":                       "503 Not a regular file",
	} {
		status, body, _ := get(t, p, "GET", path)
		if got := fmt.Sprintf("%d %s", status, body); got != want {
			t.Errorf("GET %s: %q, want %q", path, got, want)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("GET %s leaked the secret", path)
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
