package relay_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
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

	"github.com/smartproxy/smartproxy/internal/testpki"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// smartProxyBinary builds cmd/smart-proxy once per test run: the durability test kills
// the real program.
func smartProxyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "relay-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "smart-proxy")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/smartproxy/smartproxy/cmd/smart-proxy").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// relayProcess is the smart-proxy binary running the relay feature.
type relayProcess struct {
	t        *testing.T
	name     string
	settings string
	logFile  string
	url      string
	ca       *x509.CertPool // verifies the relay's server certificate
	cmd      *exec.Cmd
	exited   chan struct{}
	out      *bytes.Buffer
	outMu    sync.Mutex
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newRelayProcess writes the settings of a relay named name (its certificate's CN)
// forwarding to nextHop; trustedHosts may call it, trustedRelays' X-Forwarded-For is believed.
func newRelayProcess(t *testing.T, ca *testpki.CA, name, nextHop, trustedHosts, trustedRelays string) *relayProcess {
	t.Helper()
	cert := ca.IssueLoopback(t, name)
	p := newRelayProcessFiles(t, name, cert.CertFile, cert.KeyFile, ca.CAFile, "", nextHop, trustedHosts, trustedRelays)
	p.ca = ca.Pool
	return p
}

// newRelayProcessFiles is newRelayProcess with the TLS files given (crlFile "" = none).
func newRelayProcessFiles(t *testing.T, name, certFile, keyFile, caFile, crlFile, nextHop, trustedHosts, trustedRelays string) *relayProcess {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	global := fmt.Sprintf(":settings_directory: settings.d\n:bind_host: ['127.0.0.1']\n:https_port: %d\n"+
		":ssl_certificate: %s\n:ssl_private_key: %s\n:ssl_ca_file: %s\n:trusted_hosts: %s\n:log_file: %s\n:log_level: INFO\n",
		port, certFile, keyFile, caFile, trustedHosts, filepath.Join(dir, "proxy.log"))
	if crlFile != "" {
		global += ":ssl_crl_file: " + crlFile + "\n"
	}
	relayYML := fmt.Sprintf(":enabled: https\n:next_hop_url: %s\n:trusted_relays: %s\n:queue_dir: %s\n"+
		":retry_initial_ms: 50\n:retry_max_ms: 400\n:timeout_seconds: 10\n", nextHop, trustedRelays, filepath.Join(dir, "queue"))
	os.MkdirAll(filepath.Join(dir, "settings.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "settings.yml"), []byte(global), 0o644)
	os.WriteFile(filepath.Join(dir, "settings.d", "relay.yml"), []byte(relayYML), 0o644)
	p := &relayProcess{t: t, name: name, settings: filepath.Join(dir, "settings.yml"), logFile: filepath.Join(dir, "proxy.log"), url: fmt.Sprintf("https://127.0.0.1:%d", port), out: &bytes.Buffer{}}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "proxy.log"))
			t.Logf("%s output:\n%s\n%s log:\n%s", name, p.output(), name, log)
		}
	})
	return p
}

func (p *relayProcess) Write(b []byte) (int, error) {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.out.Write(b)
}

func (p *relayProcess) output() string {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	return p.out.String()
}

// start runs the binary and waits until /features answers.
func (p *relayProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(smartProxyBinary(p.t), "--settings", p.settings)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(p.cmd, p.exited)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.Get(p.url + "/features")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited:\n%s", p.name, p.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s does not answer: %v", p.name, err)
		}
	}
}

func (p *relayProcess) signal(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.exited
	p.cmd = nil
}

func (p *relayProcess) stop() { p.signal(syscall.SIGTERM) }
func (p *relayProcess) kill() { p.signal(syscall.SIGKILL) }

// TestChainSurvivesOutageAndKill: PFS relay → DMZ relay → core, both relays the real
// binary. 1,000 reports are posted to the PFS relay one after another; the DMZ relay
// is stopped after the 300th and started again after the 800th, and the PFS relay is
// killed with SIGKILL after the 600th and restarted. Every acknowledged report must be
// stored by the core exactly once, in the order posted, carrying the Puppet server's
// address first in X-Forwarded-For.
func TestChainSurvivesOutageAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the smart-proxy binary")
	}
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	dmz := newRelayProcess(t, ca, "dmz-relay", core.URL(), "[pfs-relay]", "[pfs-relay]")
	pfs := newRelayProcess(t, ca, "pfs-relay", dmz.url, "[puppet.example.test]", "[]")
	dmz.start()
	pfs.start()

	// The Puppet server connects from 127.0.0.2, so its address is told apart from the
	// relays' (127.0.0.1) in X-Forwarded-For.
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{puppet.TLS}},
	}}
	post := func(i int) {
		body := fmt.Sprintf(`{"config_report":{"host":"web01.example.test","n":%d}}`, i)
		resp, err := client.Post(pfs.url+"/api/config_reports", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("report %d: %d", i, resp.StatusCode)
		}
	}

	var outage time.Time
	depthAtKill := 0
	for i := 0; i < 1000; i++ {
		switch i {
		case 300:
			dmz.stop()
			outage = time.Now()
		case 600:
			// The reports since the outage wait in the PFS relay's queue.
			if n := len(core.storedRequests()); n > 300 {
				t.Fatalf("core has %d reports while the DMZ relay is down", n)
			}
			if depthAtKill = queueDepth(t, client, pfs.url); depthAtKill < 300 {
				t.Fatalf("PFS relay holds %d reports before kill -9, want at least the 300 since the outage", depthAtKill)
			}
			pfs.kill()
			client.CloseIdleConnections()
			pfs.start()
		case 601:
			if d := queueDepth(t, client, pfs.url); d != depthAtKill+1 {
				t.Fatalf("PFS relay holds %d reports after kill -9 and one more report, want %d", d, depthAtKill+1)
			}
		case 800:
			if d := 3*time.Second - time.Since(outage); d > 0 {
				time.Sleep(d) // the DMZ relay stays down a while
			}
			dmz.start()
		}
		post(i)
	}

	deadline := time.Now().Add(180 * time.Second)
	for len(core.storedRequests()) < 1000 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stored := core.storedRequests()
	if len(stored) != 1000 {
		t.Fatalf("core stored %d of 1000 reports", len(stored))
	}
	for i, r := range stored {
		var got struct {
			Report struct{ N int } `json:"config_report"`
		}
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil || got.Report.N != i {
			t.Fatalf("report %d arrived as %s (%v): out of order or lost", i, r.Body, err)
		}
		if xff := r.Header.Get("X-Forwarded-For"); !strings.HasPrefix(xff, "127.0.0.2, ") {
			t.Fatalf("report %d: X-Forwarded-For %q does not start with the Puppet server's address", i, xff)
		}
		if r.PeerCN != "dmz-relay" || r.Target != "/api/config_reports" {
			t.Fatalf("report %d came from %q as %s", i, r.PeerCN, r.Target)
		}
	}
	time.Sleep(200 * time.Millisecond) // a late duplicate would show now
	core.mu.Lock()
	repeats, total := core.repeats, len(core.all)
	core.mu.Unlock()
	if len(core.storedRequests()) != 1000 {
		t.Fatalf("core stored %d reports after settling", len(core.storedRequests()))
	}
	t.Logf("1000 reports stored once each, in order; %d requests reached the core, %d repeats dropped by key", total, repeats)
	// The PFS relay's log tells the outage and its end.
	log, _ := os.ReadFile(pfs.logFile)
	for _, want := range []string{"Relay: delivering POST /api/config_reports to https://127.0.0.1", "queued, oldest",
		"Relay: next hop https://127.0.0.1", "answers again;", "Relay: queue drained:"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("PFS relay log lacks %q", want)
		}
	}
}

// queueDepth reads smartproxy_relay_queue_depth from the relay's /metrics.
func queueDepth(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for _, line := range strings.Split(b.String(), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "smartproxy_relay_queue_depth %d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no queue depth in /metrics:\n%s", b.String())
	return 0
}

// TestKillDuringDrain kills the PFS relay with SIGKILL three times while it delivers
// its backlog, so a kill lands between a delivery and the stored position: the record
// is sent again with its key, and the core still stores each report once, in order.
func TestKillDuringDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the smart-proxy binary")
	}
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	dmz := newRelayProcess(t, ca, "dmz-relay", core.URL(), "[pfs-relay]", "[pfs-relay]")
	pfs := newRelayProcess(t, ca, "pfs-relay", dmz.url, "[puppet.example.test]", "[]")
	pfs.start()
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	client := clientWith(ca, &puppet)
	for i := 0; i < 400; i++ {
		a := send(t, client, "POST", pfs.url+"/api/config_reports", fmt.Sprintf(`{"config_report":{"n":%d}}`, i), nil)
		if a.status != http.StatusCreated {
			t.Fatalf("report %d: %d %s", i, a.status, a.body)
		}
	}
	dmz.start()
	for k := 0; k < 3; k++ {
		time.Sleep(150 * time.Millisecond)
		pfs.kill()
		pfs.start()
	}
	waitFor(t, "400 reports at the core", func() bool { return len(core.storedRequests()) == 400 })
	for i, r := range core.storedRequests() {
		if want := fmt.Sprintf(`{"config_report":{"n":%d}}`, i); r.Body != want {
			t.Fatalf("stored report %d is %s, want %s", i, r.Body, want)
		}
	}
	core.mu.Lock()
	t.Logf("400 reports stored once each, in order; %d requests reached the core, %d repeats dropped by key", len(core.all), core.repeats)
	core.mu.Unlock()
}
