package tftp

import (
	"bytes"
	"errors"
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

	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/settings"
)

// imageForm is the form Foreman sends to fetch_system_image (files[] repeated).
func imageForm(src, dst, tftpPath string, files ...string) url.Values {
	v := url.Values{"url": {src}, "path": {dst}, "tftp_path": {tftpPath}}
	for _, f := range files {
		v.Add("files[]", f)
	}
	return v
}

// imageRoot is system_image_root by default: beside tftproot.
func imageRoot(root string) string { return filepath.Join(filepath.Dir(root), "system_images") }

// pollUntilDone asks again, as Foreman does, until the answer is 200. In between it may
// be 202 (started again) or 400 "still in progress" (the run holds the lock).
func pollUntilDone(t *testing.T, p *proxytest.Proxy, form url.Values) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a download and an ISO extraction on a loaded machine
	for {
		r := p.Do(t, "POST", "/tftp/fetch_system_image", form)
		switch {
		case r.Status == 200 && r.Body == "":
			return
		case r.Status == 202, r.Status == 400 && strings.HasSuffix(r.Body, "is still in progress"):
		default:
			t.Fatalf("poll: %d %q", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFetchSystemImageDownloadsAndExtracts(t *testing.T) {
	p, f, root := startAPI(t, "")
	iso := makeISO(t, isoContent, "-R", "-J")
	m := newMediaServer(t, string(iso))
	form := imageForm(m.URL+"/media/ubuntu.iso", "ubuntu/ubuntu-24.04.iso", "boot/ubuntu-abc",
		"/casper/vmlinuz", "/casper/initrd", "images/pxeboot/initrd.img", "EFI/BOOT/BOOTX64.EFI")
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	pollUntilDone(t, p, form)
	idle(t, f)

	images := imageRoot(root)
	if got := readFile(t, filepath.Join(images, "ubuntu/ubuntu-24.04.iso")); got != string(iso) {
		t.Fatalf("image: %d bytes, want %d", len(got), len(iso))
	}
	want := map[string]string{
		"boot/ubuntu-abc-vmlinuz":     isoContent["casper/vmlinuz"],
		"boot/ubuntu-abc-initrd":      isoContent["casper/initrd"],
		"boot/ubuntu-abc-initrd.img":  isoContent["images/pxeboot/initrd.img"],
		"boot/ubuntu-abc-BOOTX64.EFI": isoContent["EFI/BOOT/BOOTX64.EFI"],
	}
	for rel, content := range want {
		if got := readFile(t, filepath.Join(root, rel)); got != content {
			t.Errorf("%s: %d bytes, want %d", rel, len(got), len(content))
		}
	}
	// Nothing else: no lock, no .part, no temporary files.
	if got := files(t, root); len(got) != len(want) {
		t.Errorf("tftproot holds %v", got)
	}
	if got := files(t, images); strings.Join(got, ",") != "ubuntu/ubuntu-24.04.iso" {
		t.Errorf("system_image_root holds %v", got)
	}

	// Served back over HTTP, without the client checks.
	r := p.Do(t, "GET", "/tftp/system_image/ubuntu/ubuntu-24.04.iso", nil)
	if r.Status != 200 || r.Body != string(iso) {
		t.Fatalf("GET image: %d, %d bytes", r.Status, len(r.Body))
	}
	// Complete: 200 at once, the server is not asked again.
	hits := m.hits.Load()
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 200, "")
	idle(t, f)
	if m.hits.Load() != hits {
		t.Errorf("a complete image was downloaded again")
	}
	// A lost extracted file is extracted again; the image is only checked for changes.
	if err := os.Remove(filepath.Join(root, "boot/ubuntu-abc-initrd")); err != nil {
		t.Fatal(err)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	pollUntilDone(t, p, form)
	if got := readFile(t, filepath.Join(root, "boot/ubuntu-abc-initrd")); got != isoContent["casper/initrd"] {
		t.Errorf("re-extracted %q", got)
	}
	if m.condHits.Load() != 1 {
		t.Errorf("conditional requests %d, want 1", m.condHits.Load())
	}
}

func TestFetchSystemImageLockedWhileRunning(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, string(makeISO(t, isoContent, "-R")))
	m.gate = make(chan struct{})
	form := imageForm(m.URL+"/media/x.iso", "x.iso", "boot/x", "casper/initrd")
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	waitFor(t, "the download to reach the server", func() bool { return m.hits.Load() == 1 })
	if _, err := os.Stat(filepath.Join(imageRoot(root), ".x.iso.lock")); err != nil {
		t.Fatalf("no lock file while downloading: %v", err)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 400,
		"TFTP: Failed to fetch system image: download and extraction of "+filepath.Join(imageRoot(root), "x.iso")+" is still in progress")
	close(m.gate)
	pollUntilDone(t, p, form)
	idle(t, f)
	if n := m.hits.Load(); n != 1 {
		t.Fatalf("%d downloads ran, want 1", n)
	}
}

// A lock left by a proxy killed with kill -9 does not block: flock locks die with
// their process, and the file left behind is locked again by the next run.
func TestFetchSystemImageLockOfAKilledProcess(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock not installed (Debian package util-linux)")
	}
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, string(makeISO(t, isoContent, "-R")))
	lockFile := filepath.Join(imageRoot(root), ".x.iso.lock")
	if err := os.MkdirAll(filepath.Dir(lockFile), 0o755); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(flock, "-o", lockFile, "sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill flock and sleep together
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
			_ = holder.Wait()
		}
	}
	t.Cleanup(kill)
	waitFor(t, "the other process to hold the lock", func() bool { return lockedElsewhere(lockFile) })

	form := imageForm(m.URL+"/media/x.iso", "x.iso", "boot/x", "casper/initrd")
	r := p.Do(t, "POST", "/tftp/fetch_system_image", form)
	if r.Status != 400 || !strings.HasSuffix(r.Body, "is still in progress") {
		t.Fatalf("while another process holds the lock: %d %q", r.Status, r.Body)
	}
	kill()
	if _, err := os.Stat(lockFile); err != nil {
		t.Fatalf("the killed process's lock file should still be there: %v", err)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	pollUntilDone(t, p, form)
	idle(t, f)
	if got := readFile(t, filepath.Join(root, "boot/x-initrd")); got != isoContent["casper/initrd"] {
		t.Fatalf("extracted %q", got)
	}
}

// lockedElsewhere reports whether another open file holds an flock on path.
func lockedElsewhere(path string) bool {
	file, err := os.Open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(file.Fd()), syscall.LOCK_UN)
	return false
}

func TestFetchSystemImageRefusals(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "not fetched")
	src := m.URL + "/media/x.iso"
	images := imageRoot(root)
	const missing = "TFTP: Wrong input parameters given: url, path, tftp_path and files[] are required"
	const failed = "TFTP: Failed to fetch system image: "
	for _, tc := range []struct {
		name string
		form url.Values
		body string
	}{
		{"no url", url.Values{"path": {"x.iso"}, "tftp_path": {"boot/x"}, "files[]": {"a"}}, missing},
		{"no path", url.Values{"url": {src}, "tftp_path": {"boot/x"}, "files[]": {"a"}}, missing},
		{"no tftp_path", url.Values{"url": {src}, "path": {"x.iso"}, "files[]": {"a"}}, missing},
		{"no files", imageForm(src, "x.iso", "boot/x"), missing},
		{"empty path", imageForm(src, "", "boot/x", "a"), missing},
		{"unknown scheme", imageForm("file:///etc/passwd", "x.iso", "boot/x", "a"), failed + "Cannot fetch system image, unknown protocol for url: file:///etc/passwd"},
		{"nfs", imageForm("nfs://server/x.iso", "x.iso", "boot/x", "a"), failed + "Cannot fetch system image, unknown protocol for url: nfs://server/x.iso"},
		{"path ..", imageForm(src, "../tftpboot/x.iso", "boot/x", "a"), failed + `path "../tftpboot/x.iso" is not inside system_image_root ` + images},
		{"path .. inside", imageForm(src, "a/../x.iso", "boot/x", "a"), failed + `path "a/../x.iso" is not inside system_image_root ` + images},
		{"path absolute", imageForm(src, "/etc/x.iso", "boot/x", "a"), failed + `path "/etc/x.iso" is not inside system_image_root ` + images},
		{"path NUL", imageForm(src, "x\x00.iso", "boot/x", "a"), failed + `path "x\x00.iso" is not inside system_image_root ` + images},
		{"path backslash", imageForm(src, `..\x.iso`, "boot/x", "a"), failed + `path "..\\x.iso" is not inside system_image_root ` + images},
		{"path root", imageForm(src, "/", "boot/x", "a"), failed + `path "/" is not inside system_image_root ` + images},
		{"tftp_path ..", imageForm(src, "x.iso", "../../etc", "a"), failed + `tftp_path "../../etc" is not inside tftproot ` + root},
		{"tftp_path absolute", imageForm(src, "x.iso", "/etc/cron.d", "a"), failed + `tftp_path "/etc/cron.d" is not inside tftproot ` + root},
		{"tftp_path encoded", imageForm(src, "x.iso", "%2e%2e/x", "a"), failed + `tftp_path "%2e%2e/x" is not inside tftproot ` + root},
		{"tftp_path encoded /", imageForm(src, "x.iso", "boot%2fx", "a"), failed + `tftp_path "boot%2fx" is not inside tftproot ` + root},
		{"path encoded \\", imageForm(src, "os%5cx.iso", "boot/x", "a"), failed + `path "os%5cx.iso" is not inside system_image_root ` + images},
		{"tftp_path root", imageForm(src, "x.iso", ".", "a"), failed + `tftp_path "." is not inside tftproot ` + root},
		{"two files, one name", imageForm(src, "x.iso", "boot/x", "casper/initrd", "/install/initrd"),
			failed + `files[] entries "casper/initrd" and "install/initrd" would both be extracted to boot/x-initrd`},
		{"file ..", imageForm(src, "x.iso", "boot/x", "casper/initrd", "../../../etc/passwd"), failed + `files[] entry "../../../etc/passwd" is not a path inside the image`},
		{"file backslash", imageForm(src, "x.iso", "boot/x", `casper\initrd`), failed + `files[] entry "casper\\initrd" is not a path inside the image`},
		{"file NUL", imageForm(src, "x.iso", "boot/x", "casper/initrd\x00"), failed + `files[] entry "casper/initrd\x00" is not a path inside the image`},
		{"file empty", imageForm(src, "x.iso", "boot/x", ""), failed + `files[] entry "" is not a path inside the image`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", tc.form), 400, tc.body)
		})
	}
	idle(t, f)
	if m.hits.Load() != 0 {
		t.Errorf("refused requests reached the server %d times", m.hits.Load())
	}
	if got := append(files(t, root), files(t, images)...); len(got) != 0 {
		t.Errorf("refused requests wrote %v", got)
	}
}

// An absolute path is fine when it lies inside its root (Ruby's expand_path rule).
func TestFetchSystemImageAbsolutePathsInsideTheRoots(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, string(makeISO(t, isoContent, "-J")))
	form := imageForm(m.URL+"/x.iso", imageRoot(root)+"/abs/x.iso", root+"/boot/abs", "/casper/initrd")
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	pollUntilDone(t, p, form)
	idle(t, f)
	if got := readFile(t, filepath.Join(root, "boot/abs-initrd")); got != isoContent["casper/initrd"] {
		t.Fatalf("extracted %q", got)
	}
}

// A file the ISO does not have is logged; the request stays incomplete (202 again).
func TestFetchSystemImageFileMissingFromTheImage(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, string(makeISO(t, isoContent, "-R", "-J")))
	form := imageForm(m.URL+"/x.iso", "x.iso", "boot/x", "casper/initrd", "casper/nope")
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	idle(t, f)
	if got := files(t, root); strings.Join(got, ",") != "boot/x-initrd" {
		t.Fatalf("tftproot holds %v", got)
	}
	expect(t, p.Do(t, "POST", "/tftp/fetch_system_image", form), 202, "")
	idle(t, f)
}

func TestSystemImageServing(t *testing.T) {
	dir := t.TempDir()
	root, images := filepath.Join(dir, "tftpboot"), filepath.Join(dir, "isos")
	for p, c := range map[string]string{images + "/os/a.iso": "iso bytes", dir + "/secret": "secret", root + "/x": "tftp"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../secret", filepath.Join(images, "link-out")); err != nil {
		t.Fatal(err)
	}
	// trusted_hosts [] denies every client of the checked routes; these are public.
	p := proxytest.Start(t, ":trusted_hosts: []\n", map[string]string{
		"tftp.yml": ":enabled: true\n:tftproot: " + root + "\n:system_image_root: " + images + "\n:listen: false\n",
	}, New())
	if err := syscall.Mkfifo(filepath.Join(images, "os/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(images, "loop")); err != nil {
		t.Fatal(err)
	}
	// A client's bad name is a 4xx whose message quotes neither the name nor the root.
	for _, c := range []struct{ path, want string }{
		{"/tftp/system_image/os/a.iso", "200 iso bytes"},
		{"/tftp/system_image/os/missing.iso", "404 Not found"},
		{"/tftp/system_image/os/a.iso/x", "404 Not found"},
		{"/tftp/system_image/os/a.iso/%0a2026-12-06T02:00:00%20x%20[E]%20forged", "404 Not found"},
		{"/tftp/system_image/loop", "404 Not found"},
		{"/tftp/system_image/os/fifo", "403 Not a regular file"},
		{"/tftp/system_image/" + strings.Repeat("a", 256), "414 Path too long: at most 255 bytes per file name, 3072 in all"},
		{"/tftp/system_image/../secret", "403 Invalid or empty path"},
		{"/tftp/system_image/os/../../secret", "403 Invalid or empty path"},
		{"/tftp/system_image/%2e%2e/tftpboot/x", "403 Invalid or empty path"},
		{"/tftp/system_image/link-out", "403 Invalid or empty path"},
		{"/tftp/system_image/os", "403 Directory listing not allowed"},
		{"/tftp/system_image/os/a.iso%00.txt", "403 Invalid or empty path"},
		{"/tftp/system_image/os/..%2f..%2fsecret", "403 Invalid or empty path"},
	} {
		status, body := rawGet(t, p, c.path)
		if got := fmt.Sprintf("%d %s", status, body); got != c.want {
			t.Errorf("GET %.80s: %q, want %q", c.path, got, c.want)
		}
		if strings.Contains(body, dir) || strings.ContainsAny(body, "\n\r") {
			t.Errorf("GET %.80s leaked: %q", c.path, body)
		}
	}
	// The rest of /tftp keeps its client checks.
	if status, _ := rawGet(t, p, "/tftp/serverName"); status != 403 {
		t.Errorf("serverName with no trusted host: %d", status)
	}
}

// rawGet sends path as is (no client-side cleaning of ".." or %2e).
func rawGet(t *testing.T, p *proxytest.Proxy, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSystemImageRootSetting(t *testing.T) {
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"tftproot": "/var/lib/tftpboot"}, "/var/lib/system_images"},
		{map[string]any{"tftproot": "/srv/tftp", "system_image_root": "/var/lib/foreman-proxy/tftp/system_images"}, "/var/lib/foreman-proxy/tftp/system_images"},
		{map[string]any{"tftproot": "/srv/tftp", "system_image_root": "isos"}, "/etc/foreman-proxy/settings.d/isos"},
	} {
		f, err := configure(t, settings.NewSection("/etc/foreman-proxy/settings.d/tftp.yml", tc.values))
		if err != nil || f.cfg.imageRoot != tc.want {
			t.Errorf("%v: system_image_root %q (%v), want %q", tc.values, f.cfg.imageRoot, err, tc.want)
		}
		if _, exposed := f.ExposedSettings()["system_image_root"]; exposed {
			t.Errorf("system_image_root is exposed")
		}
	}
}

// writeFrom never shows a half-written file under its final name: while the content
// is still arriving (a kill -9 at that moment), only a temporary file exists.
func TestWriteFromNeverExposesAHalfFile(t *testing.T) {
	st := store{root: t.TempDir()}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- st.writeFrom("boot/x/vmlinuz", pr) }()
	if _, err := pw.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.abs("boot/x/vmlinuz")); !os.IsNotExist(err) {
		t.Fatalf("final name exists mid-write: %v", err)
	}
	if names := st.list("boot/x"); len(names) != 1 || !strings.HasSuffix(names[0], ".tmp") {
		t.Fatalf("mid-write the directory holds %v", names)
	}
	_, _ = pw.Write([]byte("second half"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := st.read("boot/x/vmlinuz"); !bytes.Equal(got, []byte("first half second half")) {
		t.Fatalf("wrote %q", got)
	}
	// A failed copy leaves neither the file nor the temporary one.
	pr, pw = io.Pipe()
	go func() { done <- st.writeFrom("boot/x/initrd", pr) }()
	_, _ = pw.Write([]byte("partial"))
	pw.CloseWithError(errors.New("connection cut"))
	if err := <-done; err == nil {
		t.Fatal("a failed copy succeeded")
	}
	if names := st.list("boot/x"); strings.Join(names, ",") != "vmlinuz" {
		t.Fatalf("after a failed copy the directory holds %v", names)
	}
}
