package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
	"github.com/smartproxy/smartproxy/internal/testbin"
)

// bin holds the binaries built once by TestMain.
var bin struct{ core, proxy string }

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{
		"github.com/smartproxy/smartproxy/cmd/foreman-core": &bin.core,
		"github.com/smartproxy/smartproxy/cmd/smart-proxy":  &bin.proxy,
	})
}

// process is a running binary; its output is shown if the test fails.
type process struct {
	cmd    *exec.Cmd
	out    *testbin.Output
	exited chan struct{}
}

// start runs path with args and waits until addr accepts TLS connections (the
// handshake may fail for want of a client certificate: the listener is up).
func start(t *testing.T, name, addr, path string, args ...string) *process {
	t.Helper()
	return startIn(t, "", name, addr, path, args...)
}

// startIn is start inside network namespace ns ("" is the test's own), addr dialled
// from inside it.
func startIn(t *testing.T, ns, name, addr, path string, args ...string) *process {
	t.Helper()
	cmd, dial := exec.Command(path, args...), (&net.Dialer{}).DialContext
	if ns != "" {
		cmd, dial = pxeboot.Command(ns, path, args...), pxeboot.DialIn(ns)
	}
	p := &process{cmd: cmd, out: &testbin.Output{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := tlsReady(dial, addr)
		if err == nil {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited at start:\n%s", name, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v\n%s", name, addr, err, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tlsReady makes one TLS handshake with addr, whatever its certificate.
func tlsReady(dial func(context.Context, string, string) (net.Conn, error), addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	return tls.Client(raw, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(ctx)
}

// stop sends SIGTERM and waits; SIGKILL after 10 s.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var loopbackIPs = []net.IP{net.IPv4(127, 0, 0, 1)}
