package puppet_test

// The real foreman-core binary: keyed reports stream in, the process is killed with
// kill -9 mid-stream, restarted, and every report sent before the kill is sent again
// with its key, as a relay does when it cannot know which deliveries landed.

import (
	"bufio"
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

// coreBinary is cmd/foreman-core, built once for the package's tests.
var coreBinary string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"github.com/smartproxy/smartproxy/cmd/foreman-core": &coreBinary})
}

// startCore runs the binary on config and waits until addr accepts connections.
func startCore(t *testing.T, binary, config, addr string) (*exec.Cmd, *testbin.Output) {
	t.Helper()
	out := &testbin.Output{}
	cmd := exec.Command(binary, "--config", config)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return cmd, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("foreman-core did not listen on %s: %v\n%s", addr, err, out)
		}
	}
}

type keyedReport struct {
	key, body string
	first     string // the answer's body when acknowledged before the kill
}

// Exactly once across kill -9: every key sent is stored once, and each report
// acknowledged before the kill gets its first answer again.
func TestIdempotencyKeyAcrossKill9(t *testing.T) {
	binary := coreBinary
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ca := testpki.NewCA(t, "Core CA")
		server := ca.IssueLoopback(t, "localhost")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		config := filepath.Join(t.TempDir(), "foreman-core.yml")
		os.WriteFile(config, []byte(fmt.Sprintf("bind_host: 127.0.0.1\nhttps_port: %s\nserver_certificate: %s\nserver_private_key: %s\n"+
			"client_ca_file: %s\nstate_dir: %s\ndatabase: %s\nlog_level: WARN\n",
			port, server.CertFile, server.KeyFile, ca.CAFile, t.TempDir(), db.URL)), 0o600)

		first, out := startCore(t, binary, config, addr)
		password := ""
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Initial credentials are admin / "); ok {
				password = strings.Fields(rest)[0]
			}
		}
		if password == "" {
			t.Fatalf("no initial credentials printed:\n%s", out)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
		t.Cleanup(client.CloseIdleConnections)
		send := func(r *keyedReport) (status int, body string, replayed bool, err error) {
			req, _ := http.NewRequest("POST", "https://"+addr+"/api/config_reports", strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", r.key)
			req.SetBasicAuth("admin", password)
			resp, err := client.Do(req)
			if err != nil {
				return 0, "", false, err
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			return resp.StatusCode, string(data), resp.Header.Get("Idempotent-Replayed") == "true", err
		}

		// Four senders stream keyed reports; the core is killed after 60 answers,
		// with requests in flight (stored and unanswered, or not stored).
		base := time.Now().UTC().Add(-2 * time.Hour)
		var mu sync.Mutex
		var sent []*keyedReport
		acked := 0
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					at := base.Add(time.Duration(w*1000+i) * time.Second).Format("2006-01-02 15:04:05 UTC")
					body, _ := json.Marshal(map[string]any{"config_report": report("web01.example.test", at, nil, noop)})
					r := &keyedReport{key: fmt.Sprintf("relay-%d-%04d", w, i), body: string(body)}
					mu.Lock()
					sent = append(sent, r)
					mu.Unlock()
					status, answer, _, err := send(r)
					if err != nil {
						return // killed
					}
					if status != 201 {
						t.Errorf("POST %s: %d %s", r.key, status, answer)
						return
					}
					mu.Lock()
					r.first = answer
					if acked++; acked == 60 {
						first.Process.Signal(syscall.SIGKILL)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		first.Wait()
		if acked < 60 || acked >= 4000 {
			t.Fatalf("%d reports acknowledged: the kill did not land in the stream", acked)
		}

		startCore(t, binary, config, addr)
		client.CloseIdleConnections()
		replays := 0
		for _, r := range sent {
			status, answer, replayed, err := send(r)
			if err != nil || status != 201 {
				t.Fatalf("repeat of %s after restart: %d %s %v", r.key, status, answer, err)
			}
			if replayed {
				replays++
			}
			if r.first != "" && (!replayed || answer != r.first) {
				t.Fatalf("repeat of acknowledged %s answered %s (replayed %v), want the first answer %s", r.key, answer, replayed, r.first)
			}
		}

		req, _ := http.NewRequest("GET", "https://"+addr+"/api/v2/config_reports?per_page=5000", nil)
		req.SetBasicAuth("admin", password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var index struct {
			Total   int
			Results []struct {
				ReportedAt string `json:"reported_at"`
			}
		}
		json.NewDecoder(resp.Body).Decode(&index)
		resp.Body.Close()
		distinct := map[string]bool{}
		for _, r := range index.Results {
			distinct[r.ReportedAt] = true
		}
		if index.Total != len(sent) || len(distinct) != len(sent) {
			t.Fatalf("%d reports stored (%d distinct) for %d keys sent: not exactly once", index.Total, len(distinct), len(sent))
		}
		t.Logf("%d keyed reports sent, %d acknowledged before kill -9; after restart all sent again: %d answered as repeats, %d stored in all",
			len(sent), acked, replays, index.Total)
	})
}
