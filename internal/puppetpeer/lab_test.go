package puppetpeer

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const puppetserverJar = "/usr/share/puppetserver/puppetserver.jar"

// lab is one Puppet Server and its files, all under dir.
type lab struct {
	dir  string
	port int
	// corePort is where foreman-core listens (core_test.go): the server's ENC script
	// and its http report processor call it.
	corePort int

	serverDone chan error // receives the JVM's exit
	serverPID  int
}

func (l *lab) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}

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
node_terminus = exec
external_nodes = %[1]s/enc.sh
reports = store,http
reporturl = https://127.0.0.1:%[4]d/api/config_reports
`, l.dir, l.port, autosignHook, l.corePort),
		"etc/hiera.yaml": "---\nversion: 5\nhierarchy: []\n",
		"code/environments/production/manifests/site.pp": "node default {\n  notify { \"hello from ${trusted['certname']}\": }\n}\n",
		"code/environments/production/modules/motd/manifests/init.pp": "class motd (String $message = 'hello', Integer $port = 8140,\n" +
			"  $server = $facts['networking']['fqdn'], Optional[String] $extra = undef) { }\n",
		"code/environments/production/modules/motd/manifests/config.pp":   "class motd::config (Boolean $enabled = true, Array[String] $lines = ['a', 'b']) { }\n",
		"code/environments/production/modules/broken/manifests/init.pp":   "class broken ( { }\n",
		"code/environments/development/manifests/site.pp":                 "",
		"code/environments/development/modules/devonly/manifests/init.pp": "class devonly { }\n",
		// What foreman-core classifies agents with (core_test.go): a class whose
		// parameter and the ENC's top-scope parameters end up in a file.
		"code/environments/development/modules/probe/manifests/init.pp": "class probe (String $path) {\n" +
			"  file { $path: ensure => file, content => \"${::probe_message} ${::probe_suffix} on ${::foreman_fqdn}\\n\" }\n}\n",
	}

	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(l.path(name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(l.path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := l.writeCoreClients(); err != nil {
		return err
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
