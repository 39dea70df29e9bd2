package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The proxy runs under the unit the Foreman packages ship for foreman-proxy
// (Type=notify, ExecStart=... --no-daemonize, ExecReload=kill -USR1): it accepts the
// flag, sends READY=1 once it answers and STOPPING=1 when it stops, and SIGUSR1
// reopens log_file after logrotate moved it instead of ending the process.
func TestRunsUnderTheForemanProxyUnit(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	notifications, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notifications.Close()
	next := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = notifications.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := notifications.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	logFile := filepath.Join(dir, "proxy.log")
	px := startProxyWith(t, p, ":log_file: "+logFile+"\n", nil, func(cmd *exec.Cmd) {
		cmd.Args = append(cmd.Args, "--no-daemonize")
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	})
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	// READY=1 comes after the listeners are up: nothing is sent before.
	_ = notifications.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := notifications.Read(make([]byte, 64)); err == nil {
		t.Fatalf("unexpected notification of %d bytes", n)
	}

	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := px.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reopened log_file", func() bool {
		b, err := os.ReadFile(logFile)
		return err == nil && strings.Contains(string(b), "Log file reopened")
	})
	if _, err := p.client(t, nil).Get(px.httpURL + "/features"); err != nil {
		t.Fatalf("proxy gone after SIGUSR1: %v", err)
	}
	moved, err := os.ReadFile(logFile + ".1")
	if err != nil || !strings.Contains(string(moved), "Smart proxy has launched") {
		t.Fatalf("the moved log lost its lines (%v):\n%s", err, moved)
	}

	if err := px.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("notification at SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case <-px.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("smart-proxy still running 30s after SIGTERM")
	}
	if px.waitErr != nil {
		t.Errorf("exit: %v", px.waitErr)
	}
}

// waitFor polls cond for up to 30 s (generous: CI machines can be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// contrib/systemd/foreman-proxy.service passes systemd's own check, with the test
// binary in place of /usr/bin/smart-proxy, and starts the proxy the way the test above
// runs it.
func TestShippedUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	unit, err := os.ReadFile("../../contrib/systemd/foreman-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "--no-daemonize", "ExecReload=/bin/kill -USR1 $MAINPID"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	text := strings.Replace(string(unit), "/usr/bin/smart-proxy", binary, 1)
	path := filepath.Join(t.TempDir(), "foreman-proxy.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// -h names every subcommand, so an admin finds check-config and the importer.
func TestUsageListsSubcommands(t *testing.T) {
	out, _ := runBinary(t, "-h")
	for _, sub := range []string{"check-config", "import-isc-dhcp", "puppetca-validate", "--settings", "-no-daemonize"} {
		if !strings.Contains(out, sub) {
			t.Errorf("usage lacks %s:\n%s", sub, out)
		}
	}
}
