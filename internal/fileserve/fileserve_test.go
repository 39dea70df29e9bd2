package fileserve

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// Serve alone, without a router: the name is taken as given. Feature tests
// (httpboot, tftp system images) cover it behind real routes.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, c := range map[string]string{root + "/sub/file": "content", dir + "/secret": "secret"} {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(dir+"/secret", root+"/out"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"sub/file":         "200 content",
		"/sub/file":        "200 content",
		"sub/missing":      "404 Not found",
		"../secret":        "403 Invalid or empty path",
		"sub/../../secret": "403 Invalid or empty path",
		"out":              "403 Invalid or empty path",
		"":                 "403 Invalid or empty path",
		"a\x00b":           "403 Invalid or empty path",
		"sub":              "403 Directory listing not allowed",
	} {
		w := httptest.NewRecorder()
		Serve(w, httptest.NewRequest(http.MethodGet, "/x", nil), root, name)
		if got := fmt.Sprintf("%d %s", w.Code, w.Body.String()); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
}
