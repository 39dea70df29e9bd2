package embedded_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// proxyProcess is the proxy in a child process (this test binary, re-executed).
type proxyProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

// proxyDir writes settings.yml and settings.d for a child proxy serving DHCP in
// l's server namespace with state in stateDir.
func proxyDir(t *testing.T, l *link, stateDir string) (settingsPath, url string) {
	return writeProxyDir(t, fmt.Sprintf(`
:netns: %s
:interfaces: [%s]
:state_dir: %s
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
    :range: [10.99.1.1, 10.99.250.254]
    :routers: [10.99.0.1]
`, l.serverNS, l.serverIf, stateDir))
}

// writeProxyDir writes settings.yml and settings.d for a child proxy with the dhcp
// feature, dhcp_embedded.yml being embeddedYAML, on a free loopback http port.
func writeProxyDir(t *testing.T, embeddedYAML string) (settingsPath, url string) {
	t.Helper()
	dir := t.TempDir()
	sd := filepath.Join(dir, "settings.d")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	files := map[string]string{
		filepath.Join(dir, "settings.yml"):     fmt.Sprintf(":settings_directory: %s\n:bind_host: ['127.0.0.1']\n:http_port: %d\n:log_file: STDOUT\n", sd, port),
		filepath.Join(sd, "dhcp.yml"):          ":enabled: true\n:ping_free_ip: false\n",
		filepath.Join(sd, "dhcp_embedded.yml"): embeddedYAML,
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "settings.yml"), fmt.Sprintf("http://127.0.0.1:%d", port)
}

func startProxyProcess(t *testing.T, settingsPath, url string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{cmd: exec.Command(os.Args[0], "-test.run=^$"), url: url, logs: &bytes.Buffer{}}
	p.cmd.Env = append(os.Environ(), proxyEnv+"="+settingsPath)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	// The child dies with us even if this test binary is killed. Pdeathsig follows the
	// thread that forked, so that thread stays locked and alive until cleanup.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started, release := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		started <- p.cmd.Start()
		<-release
	}()
	if err := <-started; err != nil {
		close(release)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		close(release)
	})
	deadline := time.Now().Add(60 * time.Second) // a start on a loaded machine
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/dhcp"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("child proxy did not come up:\n%s", p.logs)
	return nil
}

func (p *proxyProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// journalLeases reads the lease file: the last lease line per address wins.
func journalLeases(t *testing.T, stateDir string) (lastByIP map[string]string, linesPerIP map[string]int) {
	t.Helper()
	f, err := os.Open(filepath.Join(stateDir, "dhcp_embedded.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lastByIP, linesPerIP = map[string]string{}, map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ K, IP, MAC string }
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.K != "lease" {
			continue
		}
		lastByIP[e.IP] = e.MAC
		linesPerIP[e.IP]++
	}
	return lastByIP, linesPerIP
}

func TestAckedLeasesSurviveKill9(t *testing.T) {
	requirePeer(t, "perfdhcp", "kea-admin")
	l := newLink(t, "10.99.0.1/16", "10.99.0.2/16")
	stateDir := t.TempDir()
	settingsPath, url := proxyDir(t, l, stateDir)
	proxy := startProxyProcess(t, settingsPath, url)

	// perfdhcp runs 4 s; the server dies mid-load, once 400 clients were ACKed (about
	// 1 s in on a quiet machine; later on a loaded one). 2000 MACs, so many clients
	// come back for the address they already have.
	sniffer := sniffACKs(t, l.clientNS, l.clientIf)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		perfdhcp(t, l, "-r", "800", "-p", "4", "-R", "2000")
	}()
	sniffer.waitClients(400, ended)
	proxy.kill9(t)
	<-ended
	acked, ipOwners := sniffer.result()
	if len(acked) < 200 {
		t.Fatalf("only %d clients were ACKed before kill -9: the test proves nothing\n%s", len(acked), proxy.logs)
	}
	for ip, macs := range ipOwners {
		if len(macs) > 1 {
			t.Fatalf("%s was ACKed to %d clients: %v", ip, len(macs), macs)
		}
	}

	// The file left behind by kill -9 holds every ACKed lease.
	lastByIP, _ := journalLeases(t, stateDir)
	for mac, ip := range acked {
		if lastByIP[ip] != mac {
			t.Fatalf("ACKed lease %s -> %s is not in the journal (journal says %q)", mac, ip, lastByIP[ip])
		}
	}

	// Restarted, the server reports them all, once each.
	startProxyProcess(t, settingsPath, url)
	resp, err := http.Get(url + "/dhcp/10.99.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var subnet struct {
		Leases []struct{ IP, MAC, State string }
	}
	err = json.NewDecoder(resp.Body).Decode(&subnet)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	byIP := map[string]string{}
	for _, lease := range subnet.Leases {
		if _, dup := byIP[lease.IP]; dup {
			t.Fatalf("%s listed twice after restart", lease.IP)
		}
		byIP[lease.IP] = lease.MAC
	}
	for mac, ip := range acked {
		if byIP[ip] != mac {
			t.Fatalf("after restart %s belongs to %q, want %s", ip, byIP[ip], mac)
		}
	}
	if _, perIP := journalLeases(t, stateDir); len(perIP) != len(byIP) {
		t.Fatalf("compacted journal has %d addresses, the API %d", len(perIP), len(byIP))
	}

	// The same clients come back to the same addresses; nobody gets an address
	// that was ACKed to another client before the crash.
	sniffer = sniffACKs(t, l.clientNS, l.clientIf)
	perfdhcp(t, l, "-r", "500", "-p", "1", "-R", "2000", "-W", "500000")
	again, _ := sniffer.result()
	returning := returningClients(t, acked, again, "the crash")
	if returning == 0 {
		t.Fatalf("no client of the first run came back (%d ACKs after restart)", len(again))
	}
	t.Logf("%d leases ACKed before kill -9, all on disk; %d of %d clients after restart were returning ones", len(acked), returning, len(again))
}

// returningClients checks the ACKs seen after event (MAC → IP) against those before
// it: a returning client keeps its address, and no new client is given an address
// ACKed to another before. It returns how many clients came back.
func returningClients(t *testing.T, before, after map[string]string, event string) int {
	t.Helper()
	owner := map[string]string{}
	for mac, ip := range before {
		owner[ip] = mac
	}
	returning := 0
	for mac, ip := range after {
		if had, ok := before[mac]; ok {
			returning++
			if had != ip {
				t.Fatalf("%s had %s before %s, got %s after", mac, had, event, ip)
			}
		} else if o, taken := owner[ip]; taken {
			t.Fatalf("%s was given %s, ACKed to %s before %s", mac, ip, o, event)
		}
	}
	return returning
}
