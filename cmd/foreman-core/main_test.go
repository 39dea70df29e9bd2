package main

// The real foreman-core binary, built once: check-config's output and exit codes,
// serving over TLS with client certificates, and writes that survive kill -9.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/testbin"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"github.com/smartproxy/smartproxy/cmd/foreman-core": &binary})
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "foreman-core.yml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runBinary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestCheckConfig(t *testing.T) {
	ca := testpki.NewCA(t, "Check CA")
	server := ca.IssueLoopback(t, "foreman.example.test")
	other := ca.IssueLoopback(t, "other.example.test")
	https := fmt.Sprintf("https_port: 3443\nserver_certificate: %s\nserver_private_key: %s\nclient_ca_file: %s\nstate_dir: /tmp/x\n",
		server.CertFile, server.KeyFile, ca.CAFile)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"shipped", []string{"check-config", "--config", "../../config/foreman-core.yml"}, 0,
			[]string{"database  SQLite ", "http      127.0.0.1:3000", "warning: https is off", "ok"}},
		{"https", []string{"check-config", "--config", writeConfig(t, https)}, 0, []string{"https     :3443", "ok"}},
		{"postgres", []string{"check-config", "--config", writeConfig(t, https+"database: postgres://core:s3cret@db.example.test/core\n")}, 0,
			[]string{"database  PostgreSQL postgres://core:xxxxx@db.example.test/core"}},
		{"unknown key", []string{"check-config", "--config", writeConfig(t, "http_port: 3000\noauth_activ: true\n")}, 0,
			[]string{"warning: ", ": unknown setting :oauth_activ: ignored", "ok"}},
		{"wrong type", []string{"check-config", "--config", writeConfig(t, "http_port: [3000]\n")}, 1,
			[]string{"error: ", "foreman-core.yml: :http_port: must be an integer"}},
		{"key of another certificate", []string{"check-config", "--config", writeConfig(t, strings.Replace(https, server.KeyFile, other.KeyFile, 1))}, 1,
			[]string{"error: https: loading server_certificate " + server.CertFile}},
		{"bad trusted host", []string{"check-config", "--config", writeConfig(t, "http_port: 3000\ntrusted_hosts: ['10.0.0.0/40']\n")}, 1,
			[]string{`error: auth: trusted_hosts: "10.0.0.0/40" is not a CIDR network`}},
		{"missing file", []string{"check-config", "--config", "/nonexistent/foreman-core.yml"}, 1,
			[]string{"error: /nonexistent/foreman-core.yml: configuration file not found"}},
		{"bad flag", []string{"check-config", "--settings", "x"}, 2, []string{"flag provided but not defined: -settings"}},
		{"version", []string{"--version"}, 0, []string{Version}},
	}
	for _, tc := range cases {
		out, code := runBinary(t, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d; output:\n%s", tc.name, code, tc.code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
}

// running is a foreman-core process.
type running struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	mu     *sync.Mutex
}

func (r running) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stdout.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start runs foreman-core on config and waits until addr accepts TLS connections.
func start(t *testing.T, config, addr string) running {
	t.Helper()
	r := running{cmd: exec.Command(binary, "--config", config), stdout: &bytes.Buffer{}, mu: &sync.Mutex{}}
	r.cmd.Stdout = lockedWriter{r.mu, r.stdout}
	r.cmd.Stderr = lockedWriter{r.mu, r.stdout}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("foreman-core did not listen on %s: %v\n%s", addr, err, r.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// credentials reads the generated admin password printed at the first start.
func credentials(t *testing.T, r running) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(r.output()))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Initial credentials are admin / "); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no initial credentials printed:\n%s", r.output())
	return ""
}

// A host creation acknowledged with 201 is on disk: after kill -9 (no shutdown, no
// flush) a restarted core serves every acknowledged host, on SQLite and PostgreSQL.
// Also: TLS 1.2+ only, ECDHE suites only, the generated password printed once.
func TestServeTLSAndKill9(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ca := testpki.NewCA(t, "Core CA")
		server := ca.IssueLoopback(t, "localhost")
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		config := writeConfig(t, fmt.Sprintf("bind_host: 127.0.0.1\nhttps_port: %s\nserver_certificate: %s\nserver_private_key: %s\n"+
			"client_ca_file: %s\nstate_dir: %s\ndatabase: %s\nlog_level: WARN\n",
			port, server.CertFile, server.KeyFile, ca.CAFile, t.TempDir(), db.URL))
		first := start(t, config, addr)
		password := credentials(t, first)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
		base := "https://" + addr + "/api/v2"

		post := func(name string) (int, error) {
			req, _ := http.NewRequest("POST", base+"/hosts", strings.NewReader(`{"host":{"name":"`+name+`"}}`))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("admin", password)
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		// Four clients write until the process is killed with writes in flight; what
		// was acknowledged is remembered.
		var mu sync.Mutex
		var acked []string
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					name := fmt.Sprintf("host-%d-%03d.example.test", w, i)
					status, err := post(name)
					if err != nil {
						return // killed
					}
					if status != 201 {
						t.Errorf("POST %s: %d", name, status)
						return
					}
					mu.Lock()
					acked = append(acked, name)
					if len(acked) == 120 {
						first.cmd.Process.Signal(syscall.SIGKILL)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		first.cmd.Wait()
		if len(acked) < 120 || len(acked) >= 4000 {
			t.Fatalf("%d writes acknowledged: the kill did not land in the stream", len(acked))
		}

		second := start(t, config, addr)
		if strings.Contains(second.output(), "Initial credentials") {
			t.Fatalf("the password was printed again:\n%s", second.output())
		}
		req, _ := http.NewRequest("GET", base+"/hosts?per_page=1000", nil)
		req.SetBasicAuth("admin", password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var index struct {
			Total   int
			Results []struct{ Name string }
		}
		json.NewDecoder(resp.Body).Decode(&index)
		resp.Body.Close()
		have := map[string]bool{}
		for _, h := range index.Results {
			have[h.Name] = true
		}
		for _, name := range acked {
			if !have[name] {
				t.Errorf("acknowledged host %s lost after kill -9", name)
			}
		}
		t.Logf("%d hosts acknowledged before kill -9, %d stored after restart", len(acked), index.Total)

		// TLS policy of the listener. (The test certificate is ECDSA, so RSA key exchange
		// could not be negotiated anyway; CBC with ECDHE could, and must be refused.)
		for _, tc := range []struct {
			name string
			conf *tls.Config
		}{
			{"TLS 1.1", &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}},
			{"CBC suite", &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
		} {
			if conn, err := tls.Dial("tcp", addr, tc.conf); err == nil {
				conn.Close()
				t.Errorf("%s accepted", tc.name)
			}
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS 1.2 with defaults refused: %v", err)
		}
		conn.Close()

		// SIGTERM stops it cleanly.
		second.cmd.Process.Signal(syscall.SIGTERM)
		if err := second.cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, second.output())
		}
	})
}

// A database that cannot be reached stops serve with exit 1 and a message that names
// it without its password.
func TestServeWithoutDatabase(t *testing.T) {
	addr := freeAddr(t)
	config := writeConfig(t, "bind_host: 127.0.0.1\nhttp_port: "+strings.Split(addr, ":")[1]+"\nstate_dir: "+t.TempDir()+
		"\ndatabase: postgres://core:s3cret@"+freeAddr(t)+"/core?connect_timeout=5\n")
	out, code := runBinary(t, "--config", config)
	if code != 1 || !strings.Contains(out, "foreman-core: connecting to database postgres://core:xxxxx@") || strings.Contains(out, "s3cret") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}
