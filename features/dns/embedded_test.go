package dns

import (
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

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// embeddedFiles are the settings of a dns_embedded proxy answering on port, keeping
// records in stateDir, accepting updates signed with keyFile.
func embeddedFiles(port int, stateDir, keyFile string) map[string]string {
	return map[string]string{
		"dns.yml": ":enabled: true\n:use_provider: dns_embedded\n:dns_ttl: 300\n",
		"dns_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:%d\n:state_dir: %s\n:zones:\n  - example.test\n  - 99.10.in-addr.arpa\n:tsig_keys:\n  - %s\n",
			port, stateDir, keyFile),
	}
}

func testKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ddns.key")
	key := "key \"ddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"qB9Yw1m2dJ8sVx3Kp0LrTgZc5eHn7uFa4iOjWkXyQsE=\";\n};\n"
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEmbeddedRecordSuite(t *testing.T) {
	bindtest.Need(t, "dig", "nsupdate")
	port := bindtest.FreePort(t)
	key := testKeyFile(t)
	px := proxytest.Start(t, "", embeddedFiles(port, t.TempDir(), key), New())
	if s, err := px.Registry.StateOf("dns"); s != "running" {
		t.Fatalf("dns is %s: %v", s, err)
	}
	p := peer{proxy: px, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	runRecordSuite(t, p)

	// A record added by nsupdate -k is the API's conflict too; unsigned is REFUSED.
	script := fmt.Sprintf("server 127.0.0.1 %d\nzone example.test\nupdate add byhand.example.test. 300 A 10.99.0.77\nsend\n", port)
	if out, err := bindtest.Nsupdate(t, key, script); err != nil {
		t.Fatalf("nsupdate -k: %v\n%s", err, out)
	}
	p.expect(t, "POST", "/dns/", map[string]string{"fqdn": "byhand.example.test", "value": "10.99.0.78", "type": "A"}, 409, "'byhand.example.test 'is already in use")
	out, err := bindtest.Nsupdate(t, "", strings.Replace(script, "byhand", "unsigned", 1))
	if err == nil || !strings.Contains(out, "REFUSED") {
		t.Errorf("unsigned nsupdate: %v %q, want REFUSED", err, out)
	}
	if got := p.dig(t, "unsigned.example.test", "A"); got != "" {
		t.Errorf("unsigned update applied: %q", got)
	}
	// Names outside the served zones are refused with a clear message.
	got := px.Do(t, "POST", "/dns/", form("fqdn", "h.example.org", "value", "10.0.0.1", "type", "A"))
	if got.Status != 400 || !strings.Contains(got.Body, "serves no zone holding h.example.org.") {
		t.Errorf("create outside the zones = %d %q", got.Status, got.Body)
	}
}

// helperProxy is the dns feature in a separate process (see TestMain).
type helperProxy struct {
	cmd  *exec.Cmd
	base string
	log  string
}

func startHelper(t *testing.T, settingsPath string, httpPort int) *helperProxy {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "proxy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+settingsPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	h := &helperProxy{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), log: logPath}
	t.Cleanup(func() { h.kill() })
	deadline := time.Now().Add(60 * time.Second) // a start on a loaded machine
	for {
		resp, err := http.Get(h.base + "/features")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "dns") {
				return h
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("helper proxy did not come up: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown code runs.
func (h *helperProxy) kill() {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	_ = h.cmd.Wait()
}

func (h *helperProxy) post(t *testing.T, fqdn, value, typ string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(h.base+"/dns/", url.Values{"fqdn": {fqdn}, "value": {value}, "type": {typ}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestEmbeddedSurvivesKill9: records acknowledged by the API are there after the
// process is killed with SIGKILL and started again.
func TestEmbeddedSurvivesKill9(t *testing.T) {
	bindtest.Need(t, "dig")
	dir := t.TempDir()
	dnsPort, httpPort := bindtest.FreePort(t), bindtest.FreePort(t)
	if err := os.MkdirAll(filepath.Join(dir, "settings.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range embeddedFiles(dnsPort, filepath.Join(dir, "state"), testKeyFile(t)) {
		if err := os.WriteFile(filepath.Join(dir, "settings.d", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	settingsPath := filepath.Join(dir, "settings.yml")
	global := fmt.Sprintf(":settings_directory: settings.d\n:bind_host: ['127.0.0.1']\n:http_port: %d\n:log_file: STDOUT\n", httpPort)
	if err := os.WriteFile(settingsPath, []byte(global), 0o644); err != nil {
		t.Fatal(err)
	}

	first := startHelper(t, settingsPath, httpPort)
	const n = 20
	for i := 1; i <= n; i++ {
		if status, body := first.post(t, fmt.Sprintf("h%d.example.test", i), fmt.Sprintf("10.99.0.%d", i), "A"); status != 200 {
			t.Fatalf("create h%d: %d %q", i, status, body)
		}
	}
	if status, body := first.post(t, "h1.example.test", "1.0.99.10.in-addr.arpa", "PTR"); status != 200 {
		t.Fatalf("create PTR: %d %q", status, body)
	}
	first.kill()

	second := startHelper(t, settingsPath, httpPort)
	for i := 1; i <= n; i++ {
		if got := bindtest.Dig(t, dnsPort, fmt.Sprintf("h%d.example.test", i), "A"); got != fmt.Sprintf("10.99.0.%d", i) {
			t.Errorf("after kill -9: h%d = %q", i, got)
		}
	}
	if got := bindtest.Dig(t, dnsPort, "-x", "10.99.0.1"); got != "h1.example.test." {
		t.Errorf("after kill -9: PTR = %q", got)
	}
	if status, body := second.post(t, "h1.example.test", "10.99.0.200", "A"); status != 409 {
		t.Errorf("conflict after restart = %d %q, want 409", status, body)
	}
	// And a change made after the restart survives a second kill.
	if status, body := second.post(t, "late.example.test", "10.99.0.250", "A"); status != 200 {
		t.Fatalf("create after restart: %d %q", status, body)
	}
	second.kill()
	startHelper(t, settingsPath, httpPort)
	if got := bindtest.Dig(t, dnsPort, "late.example.test", "A"); got != "10.99.0.250" {
		t.Errorf("after second kill -9: late = %q", got)
	}
}
