package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/smartproxy/smartproxy/contrib/internal/childproc"
)

// child is one started program: its output lines go to stdout as "[name] line" (or to
// logFile) and its pid to a file, so the README can kill -9 it.
type child struct {
	name    string
	args    []string
	pidFile string
	logFile string // if set, the output is appended there instead
	cmd     *exec.Cmd
	exited  chan struct{}
}

func (c *child) start() error {
	cmd := exec.Command(c.args[0], c.args[1:]...)
	var stdout, stderr io.WriteCloser
	if c.logFile != "" {
		f, err := os.OpenFile(c.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		stdout, stderr = f, nopCloser{f}
	} else {
		stdout, stderr = childproc.Prefixed(c.name), childproc.Prefixed(c.name)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group: Ctrl-C reaches this program only, which stops the proxies
	// before the members. Pdeathsig: a kill -9 of this program leaves no orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	if err := os.WriteFile(c.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return err
	}
	go func(done chan struct{}) {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		childproc.Say(c.name, "exited (%v)", err)
		close(done)
	}(c.exited)
	return nil
}

func (c *child) running() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop asks for a graceful stop (SIGTERM), kills after 30 s, and removes the pid file.
func (c *child) stop() {
	defer os.Remove(c.pidFile)
	if c.cmd != nil {
		childproc.Stop(c.cmd.Process, c.exited, 30*time.Second)
	}
}

// nopCloser lets one file serve as stdout and stderr, closed once.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
