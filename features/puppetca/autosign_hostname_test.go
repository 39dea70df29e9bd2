package puppetca

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

func startHostname(t *testing.T) (*fixture, string) {
	t.Helper()
	fx := start(t, hostnameProvider, map[string]string{"puppetca_hostname_whitelisting.yml": ":autosignfile: $DIR/autosign.conf\n"})
	return fx, filepath.Join(fx.dir, "autosign.conf")
}

func TestHostnameAutosign(t *testing.T) {
	fx, file := startHostname(t)
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 200, "[]")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/a.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/a.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/*.lab.example.com", nil), 200, "")
	if data, _ := os.ReadFile(file); string(data) != "a.example.com\n*.lab.example.com\n" {
		t.Fatalf("autosign file %q", data)
	}
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["a.example.com","*.lab.example.com"]`)
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/a.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/a.example.com", nil), 404,
		"Attempt to remove nonexistent client autosign for a.example.com")
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["*.lab.example.com"]`)
}

func TestHostnameAutosignKeepsCommentsAndSkipsThemInList(t *testing.T) {
	fx, file := startHostname(t)
	if err := os.WriteFile(file, []byte("# managed by hand\n\nb.example.com\n  # indented comment\nc.example.com"), 0o640); err != nil {
		t.Fatal(err)
	}
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["b.example.com","c.example.com"]`)
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/d.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/b.example.com", nil), 200, "")
	data, _ := os.ReadFile(file)
	if want := "# managed by hand\n\n  # indented comment\nc.example.com\nd.example.com\n"; string(data) != want {
		t.Fatalf("autosign file %q, want %q", data, want)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o640 {
		t.Errorf("rewritten file mode %v, want 0640 kept", info.Mode().Perm())
	}
}

func TestHostnameAutosignErrors(t *testing.T) {
	fx, file := startHostname(t)
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/autosign/a.example.com", nil), 406,
		"Failed to remove autosign for a.example.com: No such file "+file)
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/validate", nil), 501, "Provider only supports trivial autosigning")
	if err := os.Mkdir(file, 0o755); err != nil { // a folder where the file should be
		t.Fatal(err)
	}
	expectPrefix(t, fx.do(t, http.MethodPost, "/puppet/ca/autosign/a.example.com", nil), 406, "Failed to enable autosign for a.example.com: ")
	expectPrefix(t, fx.do(t, http.MethodGet, "/puppet/ca/autosign", nil), 406, "Failed to list autosign entries: ")
}
