package puppetpeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const puppetserverJar = "/usr/share/puppetserver/puppetserver.jar"

// lab is one Puppet Server and its files, all under dir.
type lab struct {
	dir  string
	port int

	serverDone chan error // receives the JVM's exit
	serverPID  int
}

func (l *lab) path(parts ...string) string { return filepath.Join(append([]string{l.dir}, parts...)...) }

// CA bundle (intermediate + root) and the proxy's certificate issued by that CA.
func (l *lab) caBundle() string  { return l.path("etc", "ssl", "certs", "ca.pem") }
func (l *lab) proxyCert() string { return l.path("proxy", "proxy.test.pem") }
func (l *lab) proxyKey() string  { return l.path("proxy", "proxy.test.key") }
func (l *lab) url() string       { return fmt.Sprintf("https://127.0.0.1:%d", l.port) }

// missingPrograms names what the Debian packages would have installed.
func missingPrograms() []string {
	var missing []string
	for _, p := range []string{"puppetserver", "puppet", "java"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := os.Stat(puppetserverJar); err != nil {
		missing = append(missing, puppetserverJar)
	}
	return missing
}

// setup writes the server's configuration, the code tree and the CA (puppetserver
// ca setup, with an IP SAN so everything dials 127.0.0.1), and issues proxy.test.
// autosignHook is the executable Puppet Server runs for each CSR.
func (l *lab) setup(ctx context.Context, autosignHook string) error {
	for _, d := range []string{"conf.d", "services.d", "etc", "var", "run", "log", "jruby-gems", "proxy", "agents"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{"services.d/bootstrap.cfg", "services.d/ca.cfg", "conf.d/web-routes.conf", "conf.d/metrics.conf", "conf.d/ca.conf"} {
		if err := copyFile("/etc/puppet/puppetserver/"+f, l.path(f)); err != nil {
			return err
		}
	}
	auth, err := os.ReadFile("/etc/puppet/puppetserver/conf.d/auth.conf")
	if err != nil {
		return err
	}
	files := map[string]string{
		"conf.d/global.conf":    fmt.Sprintf("global: { logging-config: %s }\n", l.path("logback.xml")),
		"conf.d/webserver.conf": fmt.Sprintf("webserver: { access-log-config: %s, client-auth: want, ssl-host: 127.0.0.1, ssl-port: %d }\n", l.path("request-logging.xml"), l.port),
		"conf.d/puppetserver.conf": fmt.Sprintf(`jruby-puppet: {
    ruby-load-path: [/usr/lib/puppetserver/ruby/vendor_ruby]
    gem-home: %[1]s/jruby-gems
    gem-path: [${jruby-puppet.gem-home}, "/usr/lib/puppetserver/vendored-jruby-gems"]
    server-conf-dir: %[1]s/etc
    server-code-dir: %[1]s/code
    server-var-dir: %[1]s/var
    server-run-dir: %[1]s/run
    server-log-dir: %[1]s/log
    max-active-instances: 1
    environment-class-cache-enabled: true
}
http-client: { }
profiler: { }
`, l.dir),
		"conf.d/auth.conf": proxyAuthRules(string(auth)),
		"logback.xml": fmt.Sprintf(`<configuration>
  <appender name="F" class="ch.qos.logback.core.FileAppender"><file>%s</file>
    <encoder><pattern>%%d %%-5p [%%c{2}] %%m%%n</pattern></encoder></appender>
  <root level="info"><appender-ref ref="F"/></root>
</configuration>
`, l.path("log", "puppetserver.log")),
		"request-logging.xml": fmt.Sprintf(`<configuration><appender name="A" class="ch.qos.logback.core.FileAppender"><file>%s</file>
  <encoder><pattern>%%h %%u [%%t] "%%r" %%s %%b</pattern></encoder></appender><appender-ref ref="A"/></configuration>
`, l.path("log", "access.log")),
		"etc/puppet.conf": fmt.Sprintf(`[main]
certname = puppet.test
server = 127.0.0.1
serverport = %[2]d
[server]
vardir = %[1]s/var
ssldir = %[1]s/etc/ssl
cadir = %[1]s/etc/ca
logdir = %[1]s/log
rundir = %[1]s/run
codedir = %[1]s/code
autosign = %[3]s
`, l.dir, l.port, autosignHook),
		"etc/hiera.yaml": "---\nversion: 5\nhierarchy: []\n",
		"code/environments/production/manifests/site.pp": "node default {\n  notify { \"hello from ${trusted['certname']}\": }\n}\n",
		"code/environments/production/modules/motd/manifests/init.pp": "class motd (String $message = 'hello', Integer $port = 8140,\n" +
			"  $server = $facts['networking']['fqdn'], Optional[String] $extra = undef) { }\n",
		"code/environments/production/modules/motd/manifests/config.pp": "class motd::config (Boolean $enabled = true, Array[String] $lines = ['a', 'b']) { }\n",
		"code/environments/production/modules/broken/manifests/init.pp":  "class broken ( { }\n",
		"code/environments/development/manifests/site.pp":                "",
		"code/environments/development/modules/devonly/manifests/init.pp": "class devonly { }\n",
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(l.path(name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(l.path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	setup := exec.CommandContext(ctx, "puppetserver", "ca", "setup", "--config", l.path("etc", "puppet.conf"),
		"--certname", "puppet.test", "--subject-alt-names", "DNS:puppet.test,DNS:localhost,IP:127.0.0.1")
	if out, err := setup.CombinedOutput(); err != nil {
		return fmt.Errorf("puppetserver ca setup: %w\n%s", err, out)
	}
	return l.issueProxyCertificate()
}

// proxyAuthRules lets proxy.test list classes and use the CA API, rules the default
// auth.conf lacks (what foreman-installer adds).
func proxyAuthRules(auth string) string {
	var rules strings.Builder
	for _, r := range []struct{ path, methods, name string }{
		{"/puppet/v3/environment_classes", "get", "environment_classes"},
		{"/puppet-ca/v1/certificate_status", "[get, put, delete]", "certificate_status"},
		{"/puppet-ca/v1/certificate_statuses", "get", "certificate_statuses"},
	} {
		fmt.Fprintf(&rules, "        { match-request: { path: %q, type: path, method: %s }\n"+
			"          allow: [\"proxy.test\"], sort-order: 200, name: \"smartproxy %s\" },\n", r.path, r.methods, r.name)
	}
	return strings.Replace(auth, "    rules: [\n", "    rules: [\n"+rules.String(), 1)
}

// issueProxyCertificate signs proxy.test (client and server use, SAN 127.0.0.1) with
// the Puppet CA's intermediate key, as `puppetserver ca generate` would, without the
// running server (whose autosign hook would refuse the request).
func (l *lab) issueProxyCertificate() error {
	caCerts, err := os.ReadFile(l.path("etc", "ca", "ca_crt.pem"))
	if err != nil {
		return err
	}
	block, _ := pem.Decode(caCerts)
	if block == nil {
		return errors.New("ca_crt.pem holds no certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(l.path("etc", "ca", "ca_key.pem"))
	if err != nil {
		return err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return errors.New("ca_key.pem holds no key")
	}
	var caKey any
	if caKey, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
		if caKey, err = x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
			return fmt.Errorf("ca_key.pem: %w", err)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "proxy.test"},
		DNSNames:     []string{"proxy.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("signing proxy.test: %w", err)
	}
	if err := os.WriteFile(l.proxyCert(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(l.proxyKey(), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}

// start launches the JVM the way Debian's unit does (minus runuser) and waits for
// trapperkeeper to write 1 into the restart file: the server is ready.
func (l *lab) start(ctx context.Context) error {
	restart := l.path("run", "restart")
	if err := os.WriteFile(restart, []byte("0"), 0o644); err != nil {
		return err
	}
	stdout, err := os.Create(l.path("log", "stdout.log"))
	if err != nil {
		return err
	}
	args := []string{"-Xms512m", "-Xmx1g", "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
		"--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens", "java.base/java.io=ALL-UNNAMED",
		"-Djruby.lib=/usr/share/jruby/lib", "-XX:+CrashOnOutOfMemoryError", "-XX:ErrorFile=" + l.path("log", "java_err_%p.log"),
		"-jar", puppetserverJar, "--config", l.path("conf.d"), "--bootstrap-config", l.path("services.d"), "--restart-file", restart}
	started := make(chan error, 1)
	l.serverDone = make(chan error, 1)
	// The JVM is started from a goroutine locked to its OS thread, with a parent-death
	// signal: if this test binary dies (timeout panic, kill -9) the kernel kills the
	// JVM too, so no server outlives the tests.
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command("java", args...)
		cmd.Dir = l.dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stdout
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		l.serverPID = cmd.Process.Pid
		started <- nil
		l.serverDone <- cmd.Wait()
		stdout.Close()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting puppetserver: %w", err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-l.serverDone:
			l.serverDone <- err
			return fmt.Errorf("puppetserver exited while starting (%v); see %s", err, l.path("log"))
		case <-ctx.Done():
			return fmt.Errorf("puppetserver not ready: %w", ctx.Err())
		case <-tick.C:
			if b, _ := os.ReadFile(restart); bytes.HasPrefix(b, []byte("1")) {
				return nil
			}
		}
	}
}

// stop ends the JVM by its PID: SIGTERM, then SIGKILL if it lingers.
func (l *lab) stop() {
	if l.serverPID == 0 {
		return
	}
	_ = syscall.Kill(l.serverPID, syscall.SIGTERM)
	select {
	case <-l.serverDone:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(l.serverPID, syscall.SIGKILL)
		<-l.serverDone
	}
	l.serverPID = 0
}

// agentRun is one `puppet agent --test` for certname with its own confdir.
type agentRun struct {
	exitCode int
	output   string
}

// signedAndApplied: with --test, 0 means no changes and 2 changes applied.
func (r agentRun) signedAndApplied() bool {
	return (r.exitCode == 0 || r.exitCode == 2) && strings.Contains(r.output, "Applied catalog")
}

// agentDir is certname's confdir (ssl, state and csr_attributes.yaml live there).
func (l *lab) agentDir(certname string) string { return l.path("agents", certname) }

func (l *lab) runAgent(ctx context.Context, certname string) (agentRun, error) {
	d := l.agentDir(certname)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return agentRun{}, err
	}
	conf := fmt.Sprintf("[main]\ncertname = %s\nserver = 127.0.0.1\nserverport = %d\nkeylength = 2048\n"+
		"vardir = %[3]s/var\nssldir = %[3]s/ssl\nlogdir = %[3]s/log\nrundir = %[3]s/run\ncodedir = %[3]s/code\npublicdir = %[3]s/public\n",
		certname, l.port, d)
	if err := os.WriteFile(filepath.Join(d, "puppet.conf"), []byte(conf), 0o644); err != nil {
		return agentRun{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// --http_keepalive_timeout 0 avoids a 30 s TLS 1.3 stall on the first run (puppet-peers.md).
	cmd := exec.CommandContext(ctx, "puppet", "agent", "--test", "--confdir", d, "--http_keepalive_timeout", "0", "--color", "false")
	out, err := cmd.CombinedOutput()
	run := agentRun{output: string(out)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		run.exitCode = exit.ExitCode()
	default:
		return run, fmt.Errorf("puppet agent for %s: %w", certname, err)
	}
	return run, nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
