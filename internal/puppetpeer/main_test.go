package puppetpeer

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/puppetca"
)

// hookEnv marks a run of this test binary as Puppet Server's autosign hook: the
// wrapper script re-executes the binary with it, so the hook is exactly
// puppetca.RunValidate, the code behind `smart-proxy puppetca-validate`.
const hookEnv = "PUPPETPEER_AUTOSIGN_HOOK"

var (
	skipReason string
	theLab     *lab
	theProxy   *proxy
	theCore    *coreLab
)

func TestMain(m *testing.M) {
	if os.Getenv(hookEnv) == "1" {
		args := os.Args[1:]
		if len(args) > 0 && args[0] == "puppetca-validate" {
			args = args[1:]
		}
		os.Exit(puppetca.RunValidate(args, os.Stdin, os.Stdout, os.Stderr))
	}
	flag.Parse()
	if testing.Short() {
		skipReason = "a real Puppet Server takes a minute to start; not in -short mode"
		os.Exit(m.Run())
	}
	if missing := missingPrograms(); len(missing) > 0 {
		skipReason = fmt.Sprintf("Puppet Server/agent not installed (missing %s); apt-get install puppetserver puppet-agent", strings.Join(missing, ", "))
		os.Exit(m.Run())
	}
	code, confined, err := confineToLoopback()
	if confined {
		if err != nil {
			skipReason = "Puppet peers not run: " + err.Error()
			os.Exit(m.Run())
		}
		os.Exit(code)
	}
	code, err = runWithPeers(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "puppetpeer:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// runWithPeers sets up and starts one Puppet Server and one proxy for all tests, runs
// them, and always stops both.
func runWithPeers(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "puppetpeer-")
	if err != nil {
		return 0, err
	}
	keep := os.Getenv("PUPPETPEER_KEEP") != ""
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "puppetpeer: files kept in", dir)
		}
	}()
	serverPort, err1 := freePort()
	proxyPort, err2 := freePort()
	corePort, err3 := freePort()
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("no free port: %v %v %v", err1, err2, err3)
	}
	l := &lab{dir: dir, port: serverPort, corePort: corePort}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	hook := filepath.Join(dir, "autosign-hook.sh")
	settingsPath := filepath.Join(dir, "proxy", "settings.yml")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q puppetca-validate --settings %q \"$@\" 2>>%q\n",
		hookEnv, self, settingsPath, filepath.Join(dir, "log", "hook.log"))
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		return 0, err
	}
	// About a minute on a quiet machine; several on a loaded one.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	began := time.Now()
	if err := l.setup(ctx, hook); err != nil {
		return 0, err
	}
	// The core runs before the server: every agent run asks it through the ENC.
	c, err := startCore(l)
	if err != nil {
		return 0, fmt.Errorf("foreman-core: %w", err)
	}
	defer c.stop()
	defer l.stop()
	if err := l.start(ctx); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, tail(l.path("log", "puppetserver.log"), 30))
	}
	fmt.Fprintf(os.Stderr, "puppetpeer: puppetserver ready on %s after %.1fs\n", l.url(), time.Since(began).Seconds())
	p, err := startProxy(l, settingsPath, proxyPort)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := c.registerProxy(p); err != nil {
		return 0, err
	}
	theLab, theProxy, theCore = l, p, c
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- puppetserver.log (tail)\n%s\n--- proxy.log (tail)\n%s\n--- hook.log\n%s\n--- core.log\n%s\n--- enc.log\n%s\n",
			tail(l.path("log", "puppetserver.log"), 40), tail(p.logFile, 40), tail(l.path("log", "hook.log"), 20),
			tail(c.logFile, 20), tail(l.path("log", "enc.log"), 20))
	}
	return code, nil
}

// peers returns the shared server and proxy, or skips when Puppet is not installed.
func peers(t *testing.T) (*lab, *proxy) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	return theLab, theProxy
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
