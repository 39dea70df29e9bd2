package tftp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mediaServer serves one file at /media/vmlinuz with a Last-Modified time and counts
// requests; gate, when set, holds every request until it is closed.
type mediaServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     string
	modified time.Time
	status   []int // statuses to answer before serving the file, one per request
	hits     atomic.Int32
	condHits atomic.Int32 // requests that carried If-Modified-Since
	gate     chan struct{}
}

func newMediaServer(t *testing.T, body string) *mediaServer {
	m := &mediaServer{body: body, modified: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		if r.Header.Get("If-Modified-Since") != "" {
			m.condHits.Add(1)
		}
		if m.gate != nil {
			<-m.gate
		}
		m.mu.Lock()
		body, modified := m.body, m.modified
		var status int
		if len(m.status) > 0 {
			status, m.status = m.status[0], m.status[1:]
		}
		m.mu.Unlock()
		if status != 0 {
			http.Error(w, "nope", status)
			return
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/media/vmlinuz", http.StatusFound)
			return
		}
		http.ServeContent(w, r, "vmlinuz", modified, strings.NewReader(body))
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mediaServer) set(body string, modified time.Time) {
	m.mu.Lock()
	m.body, m.modified = body, modified
	m.mu.Unlock()
}

// waitFor polls until cond holds (downloads run in the background).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are loaded
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle waits until no download is running.
func idle(t *testing.T, f *Feature) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.fetcher.wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestFetchBootFileDownloadsInTheBackground(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "kernel bytes")
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/centos-abc123", "path", m.URL+"/media/vmlinuz")), 200, "")
	idle(t, f)
	dst := filepath.Join(root, "boot/centos-abc123-vmlinuz")
	if got := readFile(t, dst); got != "kernel bytes" {
		t.Fatalf("downloaded %q", got)
	}
	fi, _ := os.Stat(dst)
	if !fi.ModTime().Equal(m.modified) {
		t.Errorf("mtime %v, want the remote %v", fi.ModTime(), m.modified)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/.centos-abc123-vmlinuz.lock")); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}

	// A prefix ending in / is a directory: no dash. Redirects are followed.
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/dir/", "path", m.URL+"/redirect")), 200, "")
	idle(t, f)
	if got := readFile(t, filepath.Join(root, "boot/dir/redirect")); got != "kernel bytes" {
		t.Fatalf("redirected download %q", got)
	}
}

func TestFetchBootFileOnlyWhenRemoteIsNewer(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "v1")
	fetch := func() {
		t.Helper()
		expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/x", "path", m.URL+"/media/vmlinuz")), 200, "")
		idle(t, f)
	}
	dst := filepath.Join(root, "boot/x-vmlinuz")
	fetch()
	if got := readFile(t, dst); got != "v1" {
		t.Fatalf("first download %q", got)
	}
	// Same remote time: the server answers 304 and the local file is kept.
	m.set("v1-changed-but-same-time", m.modified)
	fetch()
	if got := readFile(t, dst); got != "v1" {
		t.Fatalf("not-newer remote replaced the file: %q", got)
	}
	if m.condHits.Load() != 1 {
		t.Fatalf("conditional requests %d, want 1", m.condHits.Load())
	}
	// Newer remote: downloaded again.
	m.set("v2", m.modified.Add(time.Hour))
	fetch()
	if got := readFile(t, dst); got != "v2" {
		t.Fatalf("newer remote not downloaded: %q", got)
	}
}

func TestFetchBootFileLockPreventsConcurrentDownloads(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "slow kernel")
	m.gate = make(chan struct{})
	req := form("prefix", "boot/x", "path", m.URL+"/media/vmlinuz")
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", req), 200, "")
	waitFor(t, "the first download to reach the server", func() bool { return m.hits.Load() == 1 })
	if _, err := os.Stat(filepath.Join(root, "boot/.x-vmlinuz.lock")); err != nil {
		t.Fatalf("no lock file while downloading: %v", err)
	}
	// Locked: answered 200 at once, nothing started.
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", req), 200, "")
	close(m.gate)
	idle(t, f)
	if n := m.hits.Load(); n != 1 {
		t.Fatalf("%d downloads ran, want 1", n)
	}
	if got := readFile(t, filepath.Join(root, "boot/x-vmlinuz")); got != "slow kernel" {
		t.Fatalf("downloaded %q", got)
	}
	// Unlocked again: a new request downloads (conditionally).
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", req), 200, "")
	idle(t, f)
	if n := m.hits.Load(); n != 2 {
		t.Fatalf("after unlock %d requests, want 2", n)
	}
}

func TestFetchBootFileRetriesTransientErrorsOnly(t *testing.T) {
	p, f, root := startAPI(t, "")
	f.fetcher.retryDelay = time.Millisecond
	m := newMediaServer(t, "after retries")
	m.status = []int{503, 502}
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/r", "path", m.URL+"/media/vmlinuz")), 200, "")
	idle(t, f)
	if got := readFile(t, filepath.Join(root, "boot/r-vmlinuz")); got != "after retries" || m.hits.Load() != 3 {
		t.Fatalf("got %q after %d requests", got, m.hits.Load())
	}

	m.status = []int{404}
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/missing", "path", m.URL+"/media/vmlinuz")), 200, "")
	idle(t, f)
	if _, err := os.Stat(filepath.Join(root, "boot/missing-vmlinuz")); !os.IsNotExist(err) {
		t.Fatalf("404 left a file: %v", err)
	}
	if m.hits.Load() != 4 {
		t.Fatalf("404 was retried: %d requests", m.hits.Load())
	}
}

func TestFetchBootFileRefusals(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "x")
	const failed = "TFTP: Failed to fetch boot file: "
	for _, tc := range []struct {
		prefix, path string
		status       int
		body         string
	}{
		{"../../etc/cron.d/evil", m.URL + "/a", 400, failed + `invalid prefix "../../etc/cron.d/evil": ".." is not allowed`},
		{"boot/../../x", m.URL + "/a", 400, failed + `invalid prefix "boot/../../x": ".." is not allowed`},
		{"boot/../x", m.URL + "/a", 400, failed + `invalid prefix "boot/../x": ".." is not allowed`},
		{"boot/%2e%2e%2f%2e%2e%2fX", m.URL + "/a", 400, failed + `invalid prefix "boot/%2e%2e%2f%2e%2e%2fX": ".." is not allowed`},
		{`boot\..\..\X`, m.URL + "/a", 400, failed + `invalid prefix "boot\\..\\..\\X": backslashes are not allowed`},
		{"boot%2fx", m.URL + "/a", 400, failed + `invalid prefix "boot%2fx": an encoded "/" is not allowed`},
		{"boot/x%00", m.URL + "/a", 400, failed + `invalid prefix "boot/x%00": control characters are not allowed`},
		{"boot/x\x00y", m.URL + "/a", 400, failed + `invalid prefix "boot/x\x00y": control characters are not allowed`},
		{"boot/x\n[E] forged", m.URL + "/a", 400, failed + `invalid prefix "boot/x\n[E] forged": control characters are not allowed`},
		{"boot/" + strings.Repeat("a", 300), m.URL + "/a", 400, failed + `invalid prefix "boot/` + strings.Repeat("a", 300) + `": name too long: a 300-byte file name, at most 255 allowed`},
		{"boot/x", m.URL + "/media/..%2f..%2fX", 400, failed + `invalid file name "..%2f..%2fX" at the end of path "` + m.URL + `/media/..%2f..%2fX": ".." is not allowed`},
		{"boot/x", m.URL + "/media/vmlinuz%5c..", 400, failed + `invalid file name "vmlinuz%5c.." at the end of path "` + m.URL + `/media/vmlinuz%5c..": backslashes are not allowed`},
		{"boot/x", m.URL + "/media/a%2fb", 400, failed + `invalid file name "a%2fb" at the end of path "` + m.URL + `/media/a%2fb": an encoded "/" is not allowed`},
		{"boot/x", m.URL + "/media/vmlinuz%00", 400, failed + `invalid file name "vmlinuz%00" at the end of path "` + m.URL + `/media/vmlinuz%00": control characters are not allowed`},
		{"/etc/x", m.URL + "/a", 400, failed + "TFTP destination outside of tftproot"},
		{"boot/x", "git://example.com/vmlinuz", 400, failed + "Cannot fetch boot file, unknown protocol for medium source path: git://example.com/vmlinuz"},
		{"boot/x", "no-scheme/vmlinuz", 400, failed + "Cannot fetch boot file, unknown protocol for medium source path: no-scheme/vmlinuz"},
		{"boot/x", "nfs://server/export/vmlinuz", 200, ""},
	} {
		r := p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", tc.prefix, "path", tc.path))
		if r.Status != tc.status || r.Body != tc.body {
			t.Errorf("prefix %q path %q: got %d %q, want %d %q", tc.prefix, tc.path, r.Status, r.Body, tc.status, tc.body)
		}
	}
	r := p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/x"))
	if r.Status != 400 || !strings.HasPrefix(r.Body, failed) {
		t.Errorf("missing path: %d %q", r.Status, r.Body)
	}
	idle(t, f)
	if m.hits.Load() != 0 {
		t.Errorf("refused requests reached the server %d times", m.hits.Load())
	}
	if got := files(t, root); len(got) != 0 {
		t.Errorf("refused requests wrote %v", got)
	}
	// An absolute prefix inside the root is accepted (Foreman's tests send one).
	expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", root+"/boot/abs", "path", m.URL+"/media/vmlinuz")), 200, "")
	idle(t, f)
	if got := readFile(t, filepath.Join(root, "boot/abs-vmlinuz")); got != "x" {
		t.Fatalf("absolute prefix inside the root: %q", got)
	}
}

func TestFetchBootFileDoesNotFollowLinksOut(t *testing.T) {
	p, f, root := startAPI(t, "")
	m := newMediaServer(t, "x")
	outside := t.TempDir()
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "boot")); err != nil {
		t.Fatal(err)
	}
	r := p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/x", "path", m.URL+"/media/vmlinuz"))
	idle(t, f)
	if r.Status != 400 {
		t.Errorf("got %d %q", r.Status, r.Body)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
}

func TestBootFilename(t *testing.T) {
	for _, tc := range [][3]string{
		{"boot/id", "http://h/p/vmlinuz", "boot/id-vmlinuz"},
		{"boot/", "http://h/p/initrd.img", "boot/initrd.img"},
		{"boot/id", "http://h/p/dir/", "boot/id-dir"},
		{"boot/id", "http://h/p/vmlinuz?x=1", "boot/id-vmlinuz?x=1"},
	} {
		if got := bootFilename(tc[0], tc[1]); got != tc[2] {
			t.Errorf("bootFilename(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

// verify_server_cert: a self-signed https server is refused unless it is false.
func TestFetchBootFileVerifiesCertificates(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("over https"))
	}))
	t.Cleanup(tls.Close)
	for verify, want := range map[string]string{"true": "", "false": "over https"} {
		p, f, root := startAPI(t, ":verify_server_cert: "+verify+"\n")
		expect(t, p.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/s", "path", tls.URL+"/vmlinuz")), 200, "")
		idle(t, f)
		got, err := os.ReadFile(filepath.Join(root, "boot/s-vmlinuz"))
		if string(got) != want || (want == "" && !os.IsNotExist(err)) {
			t.Errorf("verify_server_cert %s: got %q (%v)", verify, got, err)
		}
	}
}
