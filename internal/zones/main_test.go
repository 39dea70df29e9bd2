package zones

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin holds the binaries built once by TestMain.
var bin struct{ core, proxy string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smartproxy-zones")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.core, bin.proxy = filepath.Join(dir, "foreman-core"), filepath.Join(dir, "smart-proxy")
	for out, pkg := range map[string]string{bin.core: "../../cmd/foreman-core", bin.proxy: "../../cmd/smart-proxy"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logDir is where every process writes its output (and the test its console and
// notes). It is kept, and named, when the test fails: $SMARTPROXY_ZONES_LOGS if set
// (CI uploads it), else a temp folder.
func logDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SMARTPROXY_ZONES_LOGS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "zones-logs-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			if os.Getenv("SMARTPROXY_ZONES_LOGS") == "" {
				os.RemoveAll(dir)
			}
			return
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		sort.Strings(files)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			t.Logf("=== %s (last 8 KiB):\n%s", f, tail(b, 8<<10))
		}
		t.Logf("every log is kept in %s", dir)
	})
	return dir
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// process is a binary running inside a namespace, its output appended to logFile.
type process struct {
	t       *testing.T
	name    string
	ns      string
	args    []string
	logFile string
	addr    string // host:port of its TLS listener, inside ns
	cmd     *exec.Cmd
	exited  chan struct{}
}

// newProcess prepares name; start runs it.
func newProcess(t *testing.T, logs, name, ns, addr string, args ...string) *process {
	p := &process{t: t, name: name, ns: ns, args: args, addr: addr, logFile: filepath.Join(logs, name+".log")}
	t.Cleanup(p.stop)
	return p
}

// start runs the binary and waits until its TLS listener accepts connections (the
// handshake may fail for want of a client certificate: the listener is up).
func (p *process) start() {
	t := p.t
	t.Helper()
	out, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "---- %s: starting %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	p.cmd = inZone(p.ns, p.args[0], p.args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}(p.cmd, p.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := dialIn(p.ns, "")(ctx, "tcp", p.addr)
		cancel()
		if err == nil {
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
			err = tc.Handshake()
			tc.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited at start (see %s)", p.name, p.logFile)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v", p.name, p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig and waits for the end; SIGKILL after 10 s.
func (p *process) signal(sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

func (p *process) stop() { p.signal(syscall.SIGTERM) }
func (p *process) kill() { p.signal(syscall.SIGKILL) }

// log is everything the process wrote so far.
func (p *process) log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// waitLog fails the test unless want shows up in p's log within limit.
func (p *process) waitLog(want string, limit time.Duration) {
	p.t.Helper()
	for deadline := time.Now().Add(limit); !strings.Contains(p.log(), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in the log of %s", want, p.name)
		}
	}
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
