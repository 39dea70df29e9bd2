// Package etcdtest starts a real etcd cluster (Debian's etcd-server) for tests:
// members on loopback ports, clients over TLS with client certificates from
// internal/testpki, each member killable with SIGKILL and restartable on its data.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	peerURL   string
	dir       string
	args      []string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// Cluster is a running etcd cluster and the client credentials it trusts.
type Cluster struct {
	Members []*Member
	CA      *testpki.CA
	Client  testpki.Cert // a client certificate the members accept
	t       testing.TB
}

// Binary finds etcd, or skips the test saying what to install.
func Binary(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (apt-get install etcd-server)")
	}
	return path
}

// Start runs an n-member cluster and waits until it answers. Every member is
// killed when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := Binary(t)
	ca := testpki.NewCA(t, "etcd-test-ca")
	c := &Cluster{CA: ca, Client: ca.IssueLoopback(t, "smartproxy-node"), t: t}
	base := t.TempDir()
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i), dir: filepath.Join(base, fmt.Sprintf("m%d", i))}
		m.ClientURL = "https://127.0.0.1:" + freePort(t)
		m.peerURL = "http://127.0.0.1:" + freePort(t)
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.peerURL)
	}
	server := ca.IssueLoopback(t, "etcd-member")
	for _, m := range c.Members {
		m.args = []string{bin,
			"--name", m.Name, "--data-dir", filepath.Join(m.dir, "data"),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "smartproxy-test",
			"--cert-file", server.CertFile, "--key-file", server.KeyFile,
			"--client-cert-auth", "--trusted-ca-file", ca.CAFile,
			// Quick elections, so a killed leader costs the tests about a second.
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			"--logger", "zap", "--log-outputs", filepath.Join(m.dir, "etcd.log"),
		}
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m.start(t)
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
	})
	c.WaitHealthy(30 * time.Second)
	return c
}

func (m *Member) start(t testing.TB) {
	t.Helper()
	m.cmd = exec.Command(m.args[0], m.args[1:]...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting etcd %s: %v", m.Name, err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(m.cmd, m.exited)
}

// Kill ends the member with SIGKILL and waits for it.
func (m *Member) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// Pause stops the member with SIGSTOP, as a stalled disk or an overloaded host
// would: it keeps its connections but answers nothing until Resume.
func (m *Member) Pause() {
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused member (SIGCONT).
func (m *Member) Resume() {
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Restart starts a killed member again on its data directory.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	args := make([]string, 0, len(m.args))
	for i := 0; i < len(m.args); i++ {
		if m.args[i] == "--initial-cluster-state" {
			i++ // ignored by etcd once the data directory exists, left out to say so
			continue
		}
		args = append(args, m.args[i])
	}
	m.args = args
	m.start(t)
}

// Leader is the member that leads now (asked of the first member that answers).
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	cli := c.Connect("/health/")
	for _, m := range c.Members {
		if m.cmd == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Raw().Status(ctx, m.ClientURL)
		cancel()
		if err != nil {
			continue
		}
		for _, x := range c.Members {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			xs, err := cli.Raw().Status(ctx, x.ClientURL)
			cancel()
			if err == nil && xs.Header.MemberId == st.Leader {
				return x
			}
		}
	}
	c.t.Fatal("no member knows a leader")
	return nil
}

// Follower is a running member that does not lead.
func (c *Cluster) Follower() *Member {
	c.t.Helper()
	leader := c.Leader()
	for _, m := range c.Members {
		if m != leader && m.cmd != nil {
			return m
		}
	}
	c.t.Fatal("no running follower")
	return nil
}

// Log is the member's log, for failure messages.
func (m *Member) Log() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "etcd.log"))
	return string(b)
}

// Endpoints are the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Config is a backend configuration for these members with the test client
// certificate and prefix.
func (c *Cluster) Config(prefix string, members ...*Member) etcdstate.Config {
	eps := c.Endpoints()
	if len(members) > 0 {
		eps = nil
		for _, m := range members {
			eps = append(eps, m.ClientURL)
		}
	}
	return etcdstate.Config{Backend: etcdstate.BackendEtcd, Endpoints: eps, CAFile: c.CA.CAFile,
		CertFile: c.Client.CertFile, KeyFile: c.Client.KeyFile, Prefix: prefix, Timeout: 4 * time.Second}
}

// Connect opens a client, failing the test on error; it is closed at the end.
func (c *Cluster) Connect(prefix string, members ...*Member) *etcdstate.Client {
	c.t.Helper()
	cli, err := etcdstate.Open(context.Background(), c.Config(prefix, members...))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cli.Close() })
	return cli
}

// WaitHealthy waits until a linearizable read succeeds (a leader with quorum).
func (c *Cluster) WaitHealthy(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		cli, err := etcdstate.Open(context.Background(), c.Config("/health/"))
		if err == nil {
			cli.Close()
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("etcd cluster not healthy after %s: %v\n%s", limit, last, tail(c.Members[0].Log(), 3000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// givenPorts are the ports freePort handed out in this process: the kernel may
// offer a just-closed port again, and two members of one cluster on the same peer
// port never elect a leader (seen once: m1 and m2 both on one port).
var givenPorts = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func freePort(t testing.TB) string {
	t.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port
		}
	}
}
