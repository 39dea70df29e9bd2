package pxeboot

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireQEMU skips unless the test runs as root with ip and qemu installed.
func RequireQEMU(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("PXE test needs root for network namespaces and taps")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (apt-get install iproute2)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86 ipxe-qemu)")
	}
	return qemu
}

// BootBIOS boots SeaBIOS (under TCG) from the network on tap through the iPXE option
// ROM of a virtio NIC with address mac, until marker shows on the console.
func BootBIOS(t *testing.T, qemu, ns, tap, mac, marker string, limit time.Duration) string {
	t.Helper()
	return Boot(t, ns, marker, limit, qemu, BIOSArgs(tap, mac)...)
}

// BIOSArgs are qemu's arguments for BootBIOS.
func BIOSArgs(tap, mac string) []string {
	return []string{"-accel", "tcg", "-m", "128", "-nographic", "-no-reboot", "-boot", "n",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac}
}

// Boot runs qemu with args inside ns and returns its serial console once marker shows
// up; after limit, or when qemu exits first, the test fails with the console.
func Boot(t *testing.T, ns, marker string, limit time.Duration, qemu string, args ...string) string {
	t.Helper()
	return StartGuest(t, ns, limit, qemu, args...).WaitFor(t, marker, limit)
}

// Guest is a running qemu and its serial console.
type Guest struct {
	cmd     *exec.Cmd
	console SyncBuffer
	exited  chan struct{} // closed once the console is read to its end and qemu reaped
}

// StartGuest runs qemu with args inside ns; it is stopped when the test ends, or
// killed by timeout after limit and 30 s should the test binary die first.
func StartGuest(t *testing.T, ns string, limit time.Duration, qemu string, args ...string) *Guest {
	t.Helper()
	timeout := fmt.Sprint(int((limit + 30*time.Second).Seconds()))
	g := &Guest{cmd: exec.Command("ip", append([]string{"netns", "exec", ns, "timeout", timeout, qemu}, args...)...),
		exited: make(chan struct{})}
	// Its own process group, so a stuck qemu can be killed with timeout by PID.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stderr = g.cmd.Stdout
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(g.exited)
		sc := bufio.NewScanner(stdout)
		sc.Split(scanConsole)
		for sc.Scan() {
			g.console.Write(append(controlSequence.ReplaceAll(sc.Bytes(), nil), '\n'))
		}
		_ = g.cmd.Wait()
	}()
	t.Cleanup(g.Stop)
	return g
}

// WaitFor returns the console once it shows marker; after limit, or when qemu exits
// without it, the test fails with the console.
func (g *Guest) WaitFor(t *testing.T, marker string, limit time.Duration) string {
	t.Helper()
	start := time.Now()
	for {
		exited := false
		select {
		case <-g.exited:
			exited = true
		case <-time.After(50 * time.Millisecond):
		}
		if console := g.console.String(); strings.Contains(console, marker) {
			t.Logf("%q after %v", marker, time.Since(start).Round(100*time.Millisecond))
			return console
		}
		if exited {
			t.Fatalf("qemu exited before %q:\n%s", marker, g.console.String())
		}
		if time.Since(start) > limit {
			t.Fatalf("no %q after %v:\n%s", marker, limit, g.console.String())
		}
	}
}

// Stop ends qemu (timeout passes SIGTERM on to it and reaps it, so no zombie is left
// behind; SIGKILL to the group after 5 s) and waits for the end of its console.
func (g *Guest) Stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.exited
	}
}

// Console is everything the guest printed so far.
func (g *Guest) Console() string { return g.console.String() }

// controlSequence is an ANSI CSI sequence. SeaBIOS's serial console mirrors the screen
// with cursor moves, which land inside the text pxelinux (SERIAL) writes to the port
// itself ("MARK\x1b[25;25HER"): without them a marker is matched whole.
var controlSequence = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// scanConsole splits the serial console on \n and \r, since firmware redraws lines.
func scanConsole(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// SyncBuffer is a bytes.Buffer shared by a writer goroutine and the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
