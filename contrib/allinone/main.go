// Command allinone is `make run`: foreman-core on SQLite and smart-proxy on the shipped
// settings.d, both on loopback over https with a CA made on the first run under
// var/allinone, the proxy registered with the core as the installer would do it. One
// command, no external service. Ctrl-C stops both.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/smartproxy/smartproxy/contrib/internal/childproc"
)

func main() {
	state := flag.String("state", "var", "folder for generated state (the repository's var/)")
	settingsDir := flag.String("settings-dir", "settings.d", "the proxy's feature files")
	binDir := flag.String("bin", "bin", "folder holding foreman-core and smart-proxy")
	flag.Parse()
	if err := run(*state, *settingsDir, *binDir); err != nil {
		fmt.Fprintln(os.Stderr, "allinone:", err)
		os.Exit(1)
	}
}

func run(state, settingsDir, binDir string) error {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	s := &site{dir: abs(filepath.Join(state, "allinone")), settingsDir: abs(settingsDir),
		stateDir: abs(filepath.Join(state, "allinone", "foreman-core"))}
	if err := s.prepare(); err != nil {
		return err
	}
	coreBin, proxyBin := abs(filepath.Join(binDir, "foreman-core")), abs(filepath.Join(binDir, "smart-proxy"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	core, err := launch("core ", coreBin, "--config", s.coreConfig())
	if err != nil {
		return err
	}
	defer core.stop()
	proxy, err := launch("proxy", proxyBin, "--settings", s.proxySettings())
	if err != nil {
		return err
	}
	defer proxy.stop()
	ca, err := os.ReadFile(s.pki.Path("ca.pem"))
	if err != nil {
		return err
	}
	for _, w := range []struct {
		p    *child
		addr string
	}{{core, fmt.Sprintf("127.0.0.1:%d", coreHTTPSPort)}, {proxy, fmt.Sprintf("127.0.0.1:%d", proxyHTTPSPort)}} {
		if err := waitTLS(ctx, w.p, w.addr, ca); err != nil {
			return err
		}
	}

	// The installer's registration, run as on the proxy's host.
	reg := exec.CommandContext(ctx, proxyBin, "register",
		"--foreman-url", fmt.Sprintf("https://127.0.0.1:%d", coreHTTPSPort), "--ssl-ca", s.pki.Path("ca.pem"),
		"--oauth-consumer-key", s.oauthKey, "--url", fmt.Sprintf("https://127.0.0.1:%d", proxyHTTPSPort),
		"--settings", s.proxySettings())
	reg.Env = append(os.Environ(), "FOREMAN_OAUTH_CONSUMER_SECRET="+s.oauthSecret)
	regOut := childproc.Prefixed("register")
	reg.Stdout, reg.Stderr = regOut, regOut
	err = reg.Run()
	regOut.Close()
	if err != nil {
		fmt.Fprintf(os.Stdout, "[allinone] registration failed (%v); both keep running, see the messages above\n", err)
	}
	fmt.Printf(`[allinone] ready. The core:  https://127.0.0.1:%[1]d (CA %[2]s) and http://127.0.0.1:%[3]d
[allinone]            admin password in %[4]s
[allinone] the proxy: http://127.0.0.1:%[5]d, https://127.0.0.1:%[6]d
[allinone] try:       curl -s -u admin:$(cat %[4]s) http://127.0.0.1:%[3]d/api/v2/smart_proxies
[allinone] Ctrl-C stops both.
`, coreHTTPSPort, s.pki.Path("ca.pem"), coreHTTPPort, filepath.Join(s.dir, "admin-password"), proxyHTTPPort, proxyHTTPSPort)

	select {
	case <-ctx.Done():
		return nil
	case <-core.exited:
		return errors.New("foreman-core stopped")
	case <-proxy.exited:
		return errors.New("smart-proxy stopped")
	}
}

// child is a started program whose output lines go to stdout with a prefix.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

func launch(name, path string, args ...string) (*child, error) {
	c := &child{name: name, cmd: exec.Command(path, args...), exited: make(chan struct{})}
	out := childproc.Prefixed(name)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (run make run, which builds it): %w", path, err)
	}
	go func() {
		_ = c.cmd.Wait()
		out.Close()
		close(c.exited)
	}()
	return c, nil
}

// stop asks for a graceful stop (SIGTERM), then kills after 30 s.
func (c *child) stop() {
	childproc.Stop(c.cmd.Process, c.exited, 30*time.Second)
}

// waitTLS waits until addr completes a handshake with a certificate of ca.
func waitTLS(ctx context.Context, c *child, addr string, caPEM []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.exited:
			return fmt.Errorf("%s stopped at start (see its messages above)", strings.TrimSpace(c.name))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer on %s: %v", strings.TrimSpace(c.name), addr, err)
		}
	}
}
