// Command hademo is `make run-ha`: high availability on one machine. It starts a
// 3-member etcd cluster on loopback (Debian's etcd-server, TLS with a CA made on the
// first run) and two smart proxies, nodeA and nodeB, whose DNS, TFTP and DHCP keep
// their state on it: what one node's API writes, the other serves. State under var/ha,
// reused by the next run. Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smartproxy/smartproxy/contrib/internal/childproc"
)

func main() {
	state := flag.String("state", "var", "folder for generated state (the repository's var/); the demo's is <state>/ha")
	binDir := flag.String("bin", "bin", "folder holding smart-proxy")
	offset := flag.Int("port-offset", 0, "added to every port (to run beside another copy, as the tests do)")
	flag.Parse()
	if err := run(*state, *binDir, *offset); err != nil {
		fmt.Fprintln(os.Stderr, "hademo:", err)
		os.Exit(1)
	}
}

func run(state, binDir string, offset int) error {
	// Checked first: without etcd nothing else is worth making.
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		return errors.New("etcd not found in PATH: install Debian's etcd-server package (apt-get install etcd-server); nothing is downloaded")
	}
	dir, err := filepath.Abs(filepath.Join(state, "ha"))
	if err != nil {
		return err
	}
	proxyBin, err := filepath.Abs(filepath.Join(binDir, "smart-proxy"))
	if err != nil {
		return err
	}
	l := layout{dir: dir, offset: offset}
	l.pki.Dir = l.path("pki")
	if err := l.prepare(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	if err := os.WriteFile(l.pidFile("hademo"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(l.pidFile("hademo"))

	members := l.members(etcdBin)
	var nodes []*child
	// Proxies first, then the members, so the proxies never see the cluster go.
	defer func() {
		for _, c := range append(nodes, members...) {
			c.stop()
		}
		childproc.Say("ha   ", "stopped")
	}()
	for i, m := range members {
		if err := m.start(); err != nil {
			return err
		}
		childproc.Say(m.name, "pid %d, client %s, log %s", m.cmd.Process.Pid, l.clientURL(i+1), l.path("etcd", m.name+".log"))
	}
	if err := l.waitQuorum(ctx, 60*time.Second); err != nil {
		return err
	}
	childproc.Say("ha   ", "etcd cluster has quorum")
	for _, n := range l.nodes() {
		c := &child{name: n.name, pidFile: l.pidFile(n.name), args: []string{proxyBin, "--settings", l.settingsFile(n)}}
		if err := c.start(); err != nil {
			return fmt.Errorf("%w (make run-ha builds %s)", err, proxyBin)
		}
		nodes = append(nodes, c)
	}
	for i, n := range l.nodes() {
		if err := waitHTTP(ctx, nodes[i], fmt.Sprintf("http://127.0.0.1:%d/features", n.http)); err != nil {
			return err
		}
	}
	a, b := l.nodes()[0], l.nodes()[1]
	fmt.Printf(`[ha   ] ready. nodeA: http://127.0.0.1:%d  dns 127.0.0.1:%d  tftp 127.0.0.1:%d  dhcp 127.0.0.1:%d
[ha   ]        nodeB: http://127.0.0.1:%d  dns 127.0.0.1:%d  tftp 127.0.0.1:%d  dhcp 127.0.0.1:%d
[ha   ] pids in %s (kill -9 $(cat %s) kills a member);
[ha   ] kill -USR1 $(cat %s) restarts every member and node that is down. Ctrl-C stops everything.
`, a.http, a.dns, a.tftp, a.dhcp, b.http, b.dns, b.tftp, b.dhcp, l.path("pids"), l.pidFile("etcd2"), l.pidFile("hademo"))

	// A process that dies stays down until SIGUSR1, so a reader can take the cluster's
	// quorum or a proxy away for as long as they like.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-usr1:
			restartedMember := false
			for _, c := range append(append([]*child{}, members...), nodes...) {
				if c.running() {
					continue
				}
				if err := c.start(); err != nil {
					return err
				}
				childproc.Say(c.name, "restarted: pid %d", c.cmd.Process.Pid)
				restartedMember = restartedMember || strings.HasPrefix(c.name, "etcd")
			}
			if restartedMember {
				// Said when it happens, so the reader knows when to write again.
				go func() {
					if err := l.waitQuorum(ctx, 60*time.Second); err == nil {
						childproc.Say("ha   ", "etcd cluster has quorum")
					}
				}()
			}
		}
	}
}

// waitHTTP waits until url answers 200, or the child stops.
func waitHTTP(ctx context.Context, c *child, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.exited:
			return fmt.Errorf("%s stopped at start (see its messages above)", c.name)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer on %s: %v", c.name, url, err)
		}
	}
}
