package puppet_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// TestENCScript runs clients/node.rb (our ENC script) with Ruby against the core over
// mTLS: it uploads the facts Puppet Server saved, prints the classification, caches
// it, and falls back to the cache as Foreman's enc.rb does. The real Puppet Server run
// is internal/puppetpeer's TestCoreClassifiesAndCollects.
func TestENCScript(t *testing.T) {
	ruby, err := exec.LookPath("ruby")
	if err != nil {
		t.Skip("ruby not installed (Debian's puppet-agent brings it)")
	}
	c := newCore(t, storetest.SQLite(t))
	setupWorld(t, c)
	dir := t.TempDir()
	// Puppet keys are RSA, and enc.rb (like node.rb) reads the key as one.
	cert := c.CA.Issue(t, testpki.Spec{CN: "puppet.example.test", DNSNames: []string{"puppet.example.test"}, RSA: true})
	settings := filepath.Join(dir, "foreman.yaml")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(settings, "---\n:url: \""+c.URL+"\"\n:ssl_ca: \""+c.CA.CAFile+"\"\n:ssl_cert: \""+cert.CertFile+"\"\n:ssl_key: \""+
		cert.KeyFile+"\"\n:puppetdir: \""+dir+"\"\n:facts: true\n:timeout: 20\n")
	write(filepath.Join(dir, "server_data", "facts", "web01.example.test.json"),
		`{"name":"web01.example.test","values":{"fqdn":"web01.example.test","clientcert":"web01.example.test","kernel":"Linux\u0007"},"timestamp":"2026-12-06T00:00:00Z"}`)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(ruby, append([]string{"clients/node.rb"}, args...)...)
		cmd.Env = append(os.Environ(), "FOREMAN_ENC_SETTINGS="+settings)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}

	out, errOut, code := run("web01.example.test")
	want := coretest.Do(t, c.User, "GET", c.URL+"/node/web01.example.test?format=yml", nil).Expect(t, 200).Body
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d stderr %q\n%s", code, errOut, out)
	}
	h, err := c.Store.HostByName(context.Background(), "web01.example.test")
	if err != nil {
		t.Fatal(err)
	}
	raw, uploaded, err := c.Store.Facts(context.Background(), h.ID)
	var facts map[string]any
	json.Unmarshal(raw, &facts)
	if err != nil || facts["kernel"] != "Linux" || facts["puppetmaster_fqdn"] == nil || facts["clientcert"] != "web01.example.test" {
		t.Fatalf("uploaded facts %s %v", raw, err)
	}
	if cached, err := os.ReadFile(filepath.Join(dir, "yaml", "foreman", "web01.example.test.yaml")); err != nil || string(cached) != want {
		t.Fatalf("cache %q %v", cached, err)
	}

	// Facts unchanged since the last push: not uploaded again.
	time.Sleep(10 * time.Millisecond)
	if _, _, code := run("web01.example.test"); code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if _, again, _ := c.Store.Facts(context.Background(), h.ID); !again.Equal(uploaded) {
		t.Errorf("facts uploaded again: %v then %v", uploaded, again)
	}
	if out, _, _ := run("--no-environment", "web01.example.test"); strings.Contains(out, "environment: staging") || !strings.Contains(out, "motd:") {
		t.Errorf("--no-environment:\n%s", out)
	}

	// Unknown node: 404, no cache, exit 1.
	if out, errOut, code := run("nope.example.test"); code != 1 || out != "" ||
		!strings.Contains(errOut, "Serving cached ENC: Error retrieving node nope.example.test: Net::HTTPNotFound") ||
		!strings.Contains(errOut, "Unable to read from Cache file") {
		t.Fatalf("unknown node: exit %d stdout %q stderr %q", code, out, errOut)
	}
	// The core gone: the cached answer, exit 0.
	write(settings, strings.Replace(mustRead(t, settings), c.URL, "https://127.0.0.1:1", 1))
	if out, errOut, code := run("web01.example.test"); code != 0 || out != want || !strings.Contains(errOut, "Serving cached ENC:") {
		t.Fatalf("core down: exit %d stderr %q\n%s", code, errOut, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
