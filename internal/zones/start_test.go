package zones

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

// site is one run's zones, CA, processes and clients.
type site struct {
	t      *testing.T
	z      *zones
	pki    *pki
	logs   string
	dir    string
	core   *process
	dmz    *process
	pfs    *process
	api    *coreAPI
	certs  map[string]certFiles
	tftp   string // the PFS proxy's TFTP root
	medium string // the installation medium's URL, in PFS
	kernel []byte // its kernel

	dmzSettings, pfsSettings string
}

const (
	coreURL     = "https://" + coreIP + ":8443"
	dmzURL      = "https://" + dmzCoreSide + ":8443" // as the core reaches the DMZ relay
	dmzFromPFS  = "https://" + dmzPFSSide + ":8443"  // as the PFS proxy reaches it
	pfsURL      = "https://" + pfsIP + ":8443"       // as the DMZ relay reaches the PFS proxy
	pfsLanURL   = "https://" + pfsLanIP + ":8443"    // as the Puppet server in PFS reaches it
	templateURL = "http://" + pfsLanIP + ":8000"     // as hosts being built reach it
	pfsRegURL   = dmzURL + "/proxy/" + pfsProxyAlias // the PFS proxy's URL in the core
)

// startSite makes the zones and the CA, and starts the core, the DMZ relay and the PFS
// proxy. coreExtra is appended to foreman-core.yml.
func startSite(t *testing.T, coreExtra string, kernel []byte) *site {
	t.Helper()
	s := &site{t: t, z: newZones(t), logs: logDir(t), dir: t.TempDir(), certs: map[string]certFiles{}}
	s.pki = newPKI(t, filepath.Join(s.dir, "ca"), "Zones CA")
	s.certs[coreName] = s.pki.issue(coreName, coreIP)
	s.certs[dmzName] = s.pki.issue(dmzName, dmzCoreSide, dmzPFSSide)
	s.certs[pfsName] = s.pki.issue(pfsName, pfsIP, pfsLanIP)
	s.certs[puppetName] = s.pki.issue(puppetName, puppetIP)
	s.certs[adminName] = s.pki.issue(adminName)
	s.certs[revokedName] = s.pki.issue(revokedName, puppetIP)
	s.kernel = kernel
	s.medium = pxeboot.StartStandInMedium(t, s.z.pfs, pfsLanIP+":8081", kernel)
	s.startCore(coreExtra)
	s.startDMZ()
	s.startPFS()
	s.api = &coreAPI{t: t, url: coreURL, client: s.pki.client(s.z.core, "", certFiles{})}
	return s
}

func (s *site) startCore(extra string) {
	dir := filepath.Join(s.dir, "core")
	c := s.certs[coreName]
	conf := writeFile(s.t, filepath.Join(dir, "foreman-core.yml"), fmt.Sprintf(`---
bind_host: %s
https_port: 8443
http_port: 0
server_certificate: %s
server_private_key: %s
client_ca_file: %s
client_crl_file: %s
state_dir: %s
admin_login: admin
admin_password: %s
oauth_active: true
oauth_consumer_key: %s
oauth_consumer_secret: %s
proxy_request_timeout: 20
trusted_hosts: [%s]
trusted_proxies: ['%s', '%s']
dns_conflict_servers: ['127.0.0.1:53']
config_report_retention_days: 0
ssl_certificate: %s
ssl_priv_key: %s
ssl_ca_file: %s
log_level: DEBUG
log_file: STDOUT
%s`, coreIP, c.cert, c.key, s.pki.caFile(), s.pki.crlFile(), filepath.Join(dir, "state"), adminPassword, oauthKey, oauthSecret,
		dmzName, dmzCoreSide, pfsIP, c.cert, c.key, s.pki.caFile(), extra))
	s.core = newProcess(s.t, s.logs, "foreman-core", s.z.core, coreIP+":8443", bin.core, "--config", conf)
	s.core.start()
}

// proxySettings writes settings.yml of a proxy named name and returns its path.
func (s *site) proxySettings(name, binds, extra string, files map[string]string) string {
	dir := filepath.Join(s.dir, name)
	sd := filepath.Join(dir, "settings.d")
	for file, content := range files {
		writeFile(s.t, filepath.Join(sd, file), content)
	}
	c := s.certs[name]
	return writeFile(s.t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(`---
:settings_directory: %s
:bind_host: [%s]
:https_port: 8443
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:ssl_crl_file: %s
:log_file: STDOUT
:log_level: DEBUG
%s`, sd, binds, c.cert, c.key, s.pki.caFile(), s.pki.crlFile(), extra))
}

// relayYAML is settings.d/relay.yml: a short backoff, so a test's outage ends fast.
func (s *site) relayYAML(name, nextHop, extra string) string {
	return fmt.Sprintf(":enabled: https\n:next_hop_url: %s\n:queue_dir: %s\n:retry_initial_ms: 200\n:retry_max_ms: 1000\n:timeout_seconds: 20\n%s",
		nextHop, filepath.Join(s.dir, name, "queue"), extra)
}

// startDMZ runs the DMZ relay: next hop the core; the core may call it (and through
// it the PFS proxy), the PFS proxy may relay through it.
func (s *site) startDMZ() {
	s.dmzSettings = s.proxySettings(dmzName, fmt.Sprintf("'%s', '%s'", dmzCoreSide, dmzPFSSide),
		fmt.Sprintf(":trusted_hosts: ['%s', '%s']\n", coreName, pfsName),
		map[string]string{"relay.yml": s.relayYAML(dmzName, coreURL,
			fmt.Sprintf(":trusted_relays: [%s]\n:downstream_proxies:\n  %s: %s\n", pfsName, pfsProxyAlias, pfsURL))})
	s.dmz = newProcess(s.t, s.logs, dmzName, s.z.dmz, dmzCoreSide+":8443", bin.proxy, "--settings", s.dmzSettings)
	s.dmz.start()
}

// startPFS runs the PFS proxy: embedded DHCP on the hosts' LAN, DNS and TFTP there,
// templates for hosts being built (relayed to the DMZ relay) and the relay (next hop
// the DMZ relay) for the Puppet server.
func (s *site) startPFS() {
	dir := filepath.Join(s.dir, pfsName)
	s.tftp = filepath.Join(dir, "tftpboot")
	for _, f := range []string{pxelinuxBin, ldlinuxC32} {
		if b, err := os.ReadFile(f); err == nil {
			writeFile(s.t, filepath.Join(s.tftp, filepath.Base(f)), string(b))
		}
	}
	reverse := "3.213.10.in-addr.arpa"
	files := map[string]string{
		"dhcp.yml": ":enabled: https\n:use_provider: dhcp_embedded\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(`:interfaces: [%s]
:state_dir: %s
:subnets:
  - :network: %s
    :netmask: 255.255.255.0
    :range: [10.213.3.100, 10.213.3.150]
    :routers: [%[4]s]
    :domain_name_servers: [%[4]s]
    :domain_name: %[5]s
`, s.z.tap, filepath.Join(dir, "dhcp"), pfsNetwork, pfsLanIP, domainName),
		"dns.yml":          ":enabled: https\n:use_provider: dns_embedded\n:dns_ttl: 60\n",
		"dns_embedded.yml": fmt.Sprintf(":listen: %s:53\n:state_dir: %s\n:zones:\n  - %s\n  - %s\n", pfsLanIP, filepath.Join(dir, "dns"), domainName, reverse),
		// The core would take the next server from the proxy's registered URL, which is
		// the DMZ relay's: a proxy behind a relay names its TFTP address itself.
		"tftp.yml":      fmt.Sprintf(":enabled: https\n:tftproot: %s\n:listen: %s:69\n:tftp_servername: %s\n", s.tftp, pfsLanIP, pfsLanIP),
		"templates.yml": ":enabled: true\n:template_url: " + templateURL + "\n",
		"relay.yml":     s.relayYAML(pfsName, dmzFromPFS, ""),
	}
	s.pfsSettings = s.proxySettings(pfsName, fmt.Sprintf("'%s', '%s'", pfsIP, pfsLanIP),
		fmt.Sprintf(":http_port: 8000\n:foreman_url: %s\n:trusted_hosts: ['%s', '%s', '%s', '%s']\n", dmzFromPFS, dmzName, puppetName, revokedName, adminName), files)
	s.pfs = newProcess(s.t, s.logs, pfsName, s.z.pfs, pfsIP+":8443", bin.proxy, "--settings", s.pfsSettings)
	s.pfs.start()
}

// register runs `smart-proxy register` in the DMZ, the zone that reaches the core's
// API; the PFS proxy is registered from there too, with its URL on the DMZ relay.
func (s *site) register(name, settings, url string) string {
	s.t.Helper()
	out, err := inZone(s.z.dmz, bin.proxy, "register", "--foreman-url", coreURL, "--oauth-consumer-key", oauthKey,
		"--oauth-consumer-secret", oauthSecret, "--ssl-ca", s.pki.caFile(), "--name", name, "--url", url,
		"--settings", settings, "--timeout", "30s").CombinedOutput()
	writeFile(s.t, filepath.Join(s.logs, "register-"+name+".log"), string(out))
	if err != nil {
		s.t.Fatalf("register %s: %v\n%s", name, err, out)
	}
	return string(out)
}

// dig asks the PFS proxy's DNS server with the real dig, from PFS.
func (s *site) dig(args ...string) string {
	s.t.Helper()
	args = append([]string{"+short", "+time=5", "+tries=2", "@" + pfsLanIP}, args...)
	out, err := inZone(s.z.pfs, "dig", args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("dig %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// tftpGet fetches file from the PFS proxy's TFTP server with the real tftp-hpa client
// in PFS; ok is false when the server refuses it.
func (s *site) tftpGet(file string) (content string, ok bool) {
	s.t.Helper()
	dest := filepath.Join(s.t.TempDir(), "got")
	out, err := inZone(s.z.pfs, "tftp", pfsLanIP, "-c", "get", file, dest).CombinedOutput()
	data, readErr := os.ReadFile(dest)
	if err != nil || readErr != nil || strings.Contains(string(out), "Error") {
		return string(out), false
	}
	return string(data), true
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}
