package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/testbin"
)

var proxyBin, demoBin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{
		"github.com/smartproxy/smartproxy/cmd/smart-proxy": &proxyBin,
		"github.com/smartproxy/smartproxy/contrib/hademo":  &demoBin,
	})
}

// Without etcd the demo stops at once, naming the package, and makes nothing.
func TestMissingEtcdNamesThePackage(t *testing.T) {
	state := t.TempDir()
	cmd := exec.Command(demoBin, "--state", state, "--bin", filepath.Dir(proxyBin))
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "apt-get install etcd-server") {
		t.Fatalf("want exit 1 naming etcd-server, got %v:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(state, "ha")); err == nil {
		t.Error("var/ha was made without etcd")
	}
}

// make run-ha as README's session uses it: a DNS record and a PXE config written
// through nodeA are served by nodeB's DNS and TFTP servers (dig, curl tftp://); Ctrl-C
// leaves no process behind; a second run serves the same state.
func TestRunHA(t *testing.T) {
	etcdtest.Binary(t)
	for _, peer := range []string{"dig", "curl"} {
		if _, err := exec.LookPath(peer); err != nil {
			t.Skipf("%s not installed (apt-get install bind9-dnsutils curl)", peer)
		}
	}
	state := t.TempDir()
	l := layout{dir: filepath.Join(state, "ha"), offset: freeOffset(t)}
	a, b := l.nodes()[0], l.nodes()[1]

	first := startDemo(t, state, l)
	post(t, fmt.Sprintf("http://127.0.0.1:%d/dns/", a.http), url.Values{"fqdn": {"web01.example.test"}, "value": {"192.168.122.10"}, "type": {"A"}})
	post(t, fmt.Sprintf("http://127.0.0.1:%d/tftp/PXELinux/52:54:00:99:00:01", a.http), url.Values{"pxeconfig": {"DEFAULT local"}})
	dig := func() (string, error) {
		return output("dig", "+short", "+time=2", "+tries=1", "@127.0.0.1", "-p", strconv.Itoa(b.dns), "web01.example.test", "A")
	}
	tftp := func() (string, error) {
		return output("curl", "-s", "--max-time", "5", fmt.Sprintf("tftp://127.0.0.1:%d/pxelinux.cfg/01-52-54-00-99-00-01", b.tftp))
	}
	waitOutput(t, "nodeB's DNS", dig, "192.168.122.10")
	waitOutput(t, "nodeB's TFTP", tftp, "DEFAULT local")
	// One member killed: writes go on; SIGUSR1 brings it back on a new pid.
	if err := syscall.Kill(first.pids["etcd2"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Retried: if etcd2 led, the write waits for an election, which a loaded machine may
	// stretch past the 3 s :etcd_timeout: (the etcdstate tests bound it, not this one).
	waitOutput(t, "a write with one member down", func() (string, error) {
		resp, err := http.PostForm(fmt.Sprintf("http://127.0.0.1:%d/dns/", a.http),
			url.Values{"fqdn": {"web02.example.test"}, "value": {"192.168.122.11"}, "type": {"A"}})
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		return resp.Status, nil
	}, "200 OK")
	waitOutput(t, "the killed member's exit", func() (string, error) {
		return fmt.Sprint(strings.Contains(first.out.String(), "[etcd2] exited (signal: killed)")), nil
	}, "true")
	_ = first.cmd.Process.Signal(syscall.SIGUSR1)
	waitOutput(t, "the member's restart", func() (string, error) {
		return fmt.Sprint(strings.Contains(first.out.String(), "[etcd2] restarted: pid ") &&
			strings.Count(first.out.String(), "[ha   ] etcd cluster has quorum") == 2), nil
	}, "true")
	first.readPids(t)
	caPEM, _ := os.ReadFile(l.pki.Path("ca.pem"))
	first.stop(t)

	second := startDemo(t, state, l)
	waitOutput(t, "nodeB's DNS after a restart", dig, "192.168.122.10")
	waitOutput(t, "nodeB's TFTP after a restart", tftp, "DEFAULT local")
	if again, _ := os.ReadFile(l.pki.Path("ca.pem")); !bytes.Equal(again, caPEM) {
		t.Error("the second run made a new CA")
	}
	second.stop(t)
}

// demo is one run of the program, its output kept for failure messages.
type demo struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	pids   map[string]int
	l      layout
}

func startDemo(t *testing.T, state string, l layout) *demo {
	t.Helper()
	d := &demo{out: &syncBuffer{}, exited: make(chan struct{}), l: l}
	d.cmd = exec.Command(demoBin, "--state", state, "--bin", filepath.Dir(proxyBin), "--port-offset", strconv.Itoa(l.offset))
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() { d.kill() })
	deadline := time.After(90 * time.Second)
	for !strings.Contains(d.out.String(), "[ha   ] ready.") {
		select {
		case <-d.exited:
			t.Fatalf("hademo stopped at start:\n%s", d.out)
		case <-deadline:
			t.Fatalf("hademo not ready after 90 s:\n%s", d.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.readPids(t)
	return d
}

// readPids reads the pid file of every member and node; a restarted one has a new pid.
func (d *demo) readPids(t *testing.T) {
	t.Helper()
	if d.pids == nil {
		d.pids = map[string]int{}
	}
	for _, name := range append(d.l.memberNames(), "nodeA", "nodeB") {
		b, err := os.ReadFile(d.l.pidFile(name))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			t.Fatalf("no pid file for %s: %v", name, err)
		}
		d.pids[name] = pid
	}
}

// stop is Ctrl-C: SIGINT to the program only (its children have their own process
// groups); it must exit 0 and leave no child and no pid file.
func (d *demo) stop(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("hademo still running 90 s after SIGINT:\n%s", d.out)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGINT:\n%s", code, d.out)
	}
	for name, pid := range d.pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) survived the stop", name, pid)
		}
	}
	left, _ := filepath.Glob(d.l.pidFile("*"))
	if len(left) > 0 {
		t.Errorf("pid files left: %v", left)
	}
	if !strings.Contains(d.out.String(), "[ha   ] stopped") {
		t.Errorf("no final line:\n%s", d.out)
	}
}

// kill is the cleanup of a failed test: nothing may outlive it.
func (d *demo) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
	for _, pid := range d.pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func post(t *testing.T, u string, form url.Values) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", u, resp.Status)
	}
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

// waitOutput waits (30 s, generous for a loaded machine) until get returns want.
func waitOutput(t *testing.T, what string, get func() (string, error), want string) {
	t.Helper()
	start := time.Now()
	for {
		got, err := get()
		if got == want {
			t.Logf("%s answered %q after %s", what, want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: got %q (%v), want %q", what, got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeOffset finds a port offset at which every port of the demo is free, so the
// test runs beside a make run-ha or another helper's test.
func freeOffset(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		// Up to 380: member 3's peer port (32380+o) stays under the kernel's ephemeral
		// range (32768 on), where any test's port-0 listener could take it meanwhile.
		o := 100 + rand.Intn(29)*10
		l := layout{offset: o}
		var tcp, udp []int
		for i := 1; i <= 3; i++ {
			tcp = append(tcp, i*10000+etcdClientPort+o, i*10000+etcdPeerPort+o)
		}
		for _, n := range l.nodes() {
			tcp = append(tcp, n.http, n.dns)
			udp = append(udp, n.tftp, n.dns, n.dhcp)
		}
		if allFree(tcp, udp) {
			return o
		}
	}
	t.Fatal("no free port offset")
	return 0
}

func allFree(tcp, udp []int) bool {
	for _, p := range tcp {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	for _, p := range udp {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
