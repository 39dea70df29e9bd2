package embedded_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Peer tests run real DHCP clients against the server in a pair of network
// namespaces joined by a veth pair (peers.md §1). The server runs in-process: its
// socket is created inside the server namespace (:netns:), while the REST API stays
// on loopback in ours, so the tests talk to it like Foreman does.

// requireRoot skips when namespaces cannot be made here.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("peer test needs root to create network namespaces")
	}
	requirePeer(t, "ip", "iproute2")
}

// requirePeer skips when a peer program is not installed.
func requirePeer(t testing.TB, program, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s)", program, debianPackage)
	}
	return path
}

// link is a server namespace and a client namespace joined by a veth pair.
type link struct {
	serverNS, clientNS string
	serverIf, clientIf string
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newLink makes the namespaces (deleted when the test ends). serverAddr is a
// prefix such as 10.99.0.1/16; clientAddr may be empty (a DHCP client gets one).
func newLink(t testing.TB, serverAddr, clientAddr string) *link {
	t.Helper()
	requireRoot(t)
	s := randomSuffix(t)
	l := &link{serverNS: "spdhcp-s-" + s, clientNS: "spdhcp-c-" + s, serverIf: "spds" + s, clientIf: "spdc" + s}
	for _, ns := range []string{l.serverNS, l.clientNS} {
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", l.serverIf, "type", "veth", "peer", "name", l.clientIf)
	run(t, "ip", "link", "set", l.serverIf, "netns", l.serverNS)
	run(t, "ip", "link", "set", l.clientIf, "netns", l.clientNS)
	run(t, "ip", "-n", l.serverNS, "addr", "add", serverAddr, "dev", l.serverIf)
	if clientAddr != "" {
		run(t, "ip", "-n", l.clientNS, "addr", "add", clientAddr, "dev", l.clientIf)
	}
	for _, x := range [][2]string{{l.serverNS, l.serverIf}, {l.clientNS, l.clientIf}, {l.serverNS, "lo"}, {l.clientNS, "lo"}} {
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
	return l
}

// clientMAC is the client interface's MAC.
func (l *link) clientMAC(t testing.TB) string {
	t.Helper()
	var mac string
	inNS(t, l.clientNS, func() {
		ifc, err := net.InterfaceByName(l.clientIf)
		if err != nil {
			t.Fatal(err)
		}
		mac = ifc.HardwareAddr.String()
	})
	return mac
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs fn on a thread inside the named namespace (sockets it opens stay there).
func inNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var failure error
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		fd, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			failure = err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			failure = err
			return
		}
		fn()
	}()
	<-done
	if failure != nil {
		t.Fatalf("entering namespace %s: %v", ns, failure)
	}
}

// echoScript writes a client hook script that only prints its environment, so the
// client never touches the interface or resolv.conf (peers.md §1).
func echoScript(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook.sh")
	script := "#!/bin/sh\necho \"HOOK event=$1 reason=$reason\"\nenv | sort | sed 's/^/ENV /'\necho HOOK-END\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// hookRuns splits client output into one environment map per hook call.
func hookRuns(output string) []map[string]string {
	var runs []map[string]string
	var cur map[string]string
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "HOOK event="):
			cur = map[string]string{}
			fields := strings.Fields(line)
			for _, f := range fields[1:] {
				k, v, _ := strings.Cut(f, "=")
				cur["HOOK_"+k] = v
			}
		case strings.HasPrefix(line, "ENV ") && cur != nil:
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "ENV "), "=")
			cur[k] = v
		case line == "HOOK-END" && cur != nil:
			runs = append(runs, cur)
			cur = nil
		}
	}
	return runs
}

// udhcpc runs busybox udhcpc once in the client namespace and returns the
// environment of its "bound" hook call.
func udhcpc(t testing.TB, l *link) map[string]string {
	t.Helper()
	bin := requirePeer(t, "udhcpc", "udhcpc")
	// 10 tries 2 s apart: an answer late on a loaded machine is not a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.clientNS, bin, "-i", l.clientIf,
		"-f", "-q", "-n", "-t", "10", "-T", "2", "-s", echoScript(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	for _, env := range hookRuns(string(out)) {
		if env["HOOK_event"] == "bound" {
			return env
		}
	}
	t.Fatalf("udhcpc got no lease:\n%s", out)
	return nil
}

// dhclient runs ISC dhclient in the client namespace until its hook reports BOUND
// and returns that environment.
func dhclient(t testing.TB, l *link) map[string]string {
	t.Helper()
	bin := requirePeer(t, "dhclient", "isc-dhcp-client")
	dir := t.TempDir()
	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("request subnet-mask, routers, domain-name-servers, domain-name, host-name, ntp-servers, interface-mtu;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.clientNS, bin, "-4", "-v", "-1", "-d",
		"-cf", conf, "-sf", echoScript(t), "-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), l.clientIf)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var all strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if sc.Text() == "HOOK-END" {
			for _, env := range hookRuns(all.String()) {
				if env["reason"] == "BOUND" {
					return env
				}
			}
		}
	}
	t.Fatalf("dhclient got no lease:\n%s", all.String())
	return nil
}

func fatalIfNot(t testing.TB, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}
