package e2e

// Zones: a Puppet server in PFS reaches foreman-core only through the PFS relay and the
// DMZ relay (features/relay), each the real smart-proxy binary. Facts and reports are
// queued and delivered while the DMZ relay is down and after the PFS relay is killed;
// the core stores each once (Idempotency-Key) and in order; the ENC is served from the
// relay's cache while the core cannot be reached.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

// relayCore runs foreman-core trusting the DMZ relay's certificate on the Puppet
// routes (trusted_hosts) and loopback relays' X-Forwarded-For (trusted_proxies).
func relayCore(t *testing.T, ca *testpki.CA, dir string) string {
	t.Helper()
	server := ca.IssueLoopback(t, "localhost")
	port := freePort(t)
	conf := writeFile(t, filepath.Join(dir, "foreman-core.yml"), fmt.Sprintf(`---
bind_host: 127.0.0.1
https_port: %d
http_port: 0
server_certificate: %s
server_private_key: %s
client_ca_file: %s
state_dir: %s
admin_login: admin
admin_password: %s
trusted_hosts: [dmz-relay.example.test]
trusted_proxies: [127.0.0.1/8]
log_level: INFO
log_file: STDOUT
`, port, server.CertFile, server.KeyFile, ca.CAFile, filepath.Join(dir, "state"), adminPassword))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	start(t, "foreman-core", addr, bin.core, "--config", conf)
	return "https://" + addr
}

// zoneRelay is a smart-proxy with only the relay feature.
type zoneRelay struct {
	name, settings, addr, url string
	proc                      *process
}

func newZoneRelay(t *testing.T, ca *testpki.CA, dir, name, nextHop, trustedHosts, trustedRelays string) *zoneRelay {
	t.Helper()
	return newZoneRelayWith(t, ca, dir, name, nextHop, trustedHosts, trustedRelays, "")
}

// newZoneRelayWith is newZoneRelay with extra lines for its relay.yml.
func newZoneRelayWith(t *testing.T, ca *testpki.CA, dir, name, nextHop, trustedHosts, trustedRelays, relayExtra string) *zoneRelay {
	t.Helper()
	cert := ca.IssueLoopback(t, name)
	port := freePort(t)
	d := filepath.Join(dir, name)
	writeFile(t, filepath.Join(d, "settings.d", "relay.yml"), fmt.Sprintf(
		":enabled: https\n:next_hop_url: %s\n:trusted_relays: %s\n:queue_dir: %s\n:retry_initial_ms: 50\n:retry_max_ms: 500\n%s",
		nextHop, trustedRelays, filepath.Join(d, "queue"), relayExtra))
	settings := writeFile(t, filepath.Join(d, "settings.yml"), fmt.Sprintf(`---
:settings_directory: settings.d
:bind_host: ['127.0.0.1']
:https_port: %d
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:trusted_hosts: %s
:log_file: %s
`, port, cert.CertFile, cert.KeyFile, ca.CAFile, trustedHosts, filepath.Join(d, "proxy.log")))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &zoneRelay{name: name, settings: settings, addr: addr, url: "https://" + addr}
}

func (r *zoneRelay) start(t *testing.T) {
	r.proc = start(t, r.name, r.addr, bin.proxy, "--settings", r.settings)
}

func (r *zoneRelay) kill9() {
	_ = r.proc.cmd.Process.Kill()
	<-r.proc.exited
}

func TestRelayChainToCore(t *testing.T) {
	ca := testpki.NewCA(t, "Zones CA")
	dir := t.TempDir()
	coreURL := relayCore(t, ca, dir)
	dmz := newZoneRelay(t, ca, dir, "dmz-relay.example.test", coreURL, "[pfs-relay.example.test]", "[pfs-relay.example.test]")
	pfs := newZoneRelay(t, ca, dir, "pfs-relay.example.test", dmz.url, "[puppet.example.test]", "[]")
	dmz.start(t)
	pfs.start(t)

	puppetCert := ca.IssueLoopback(t, "puppet.example.test")
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{puppetCert.TLS}}}
	t.Cleanup(transport.CloseIdleConnections)
	puppet := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	send := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, pfs.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "*/*, application/json,version=2")
		resp, err := puppet.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(data)
	}

	// Facts create the host in the core; the ENC classifies it, through both relays.
	facts := `{"name":"web01.example.test","certname":"web01.example.test","facts":{"osfamily":"Debian","ipaddress":"192.0.2.10"}}`
	if status, _, body := send("POST", "/api/hosts/facts", facts); status != 201 {
		t.Fatalf("facts: %d %s", status, body)
	}
	var enc string
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, body := send("GET", "/node/web01.example.test?format=yml", "")
		if status == 200 {
			enc = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ENC never answered 200: %d %s", status, body)
		}
		time.Sleep(100 * time.Millisecond) // the queued facts are still on their way
	}
	if !strings.Contains(enc, "foreman_fqdn: web01.example.test") {
		t.Fatalf("ENC through the relays:\n%s", enc)
	}

	// 300 reports; the DMZ relay down from the 100th to the 250th, the PFS relay
	// killed with SIGKILL at the 180th and started again.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stamp := func(i int) string { return base.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05 UTC") }
	for i := 0; i < 300; i++ {
		switch i {
		case 100:
			dmz.proc.stop()
		case 180:
			pfs.kill9()
			transport.CloseIdleConnections()
			pfs.start(t)
		case 250:
			dmz.start(t)
		}
		report := fmt.Sprintf(`{"config_report":{"host":"web01.example.test","reported_at":%q,`+
			`"status":{"applied":%d,"restarted":0,"failed":0,"failed_restarts":0,"skipped":0,"pending":0},`+
			`"metrics":{"resources":{"total":1},"time":{"total":0.1},"changes":{"total":0},"events":{"total":0}},"logs":[]}}`, stamp(i), i%60)
		if status, _, body := send("POST", "/api/config_reports", report); status != 201 {
			t.Fatalf("report %d: %d %s", i, status, body)
		}
		if i == 150 {
			// The core is out of reach: the ENC comes from the PFS relay's cache, marked.
			status, header, body := send("GET", "/node/web01.example.test?format=yml", "")
			if status != 200 || body != enc || header.Get("X-Relay-Stale") != "true" {
				t.Fatalf("ENC during the outage: %d %v\n%s", status, header, body)
			}
		}
	}

	var got []string
	deadline = time.Now().Add(60 * time.Second)
	for {
		got = storedReports(t, coreURL, ca)
		if len(got) >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(got) != 300 {
		seen := map[string]int{}
		for i, at := range got {
			if j, dup := seen[at]; dup {
				t.Errorf("report %s stored twice: positions %d and %d", at, j, i)
			}
			seen[at] = i
		}
		t.Fatalf("the core stored %d reports, want 300", len(got))
	}
	for i, at := range got {
		if at != stamp(i) {
			t.Fatalf("report %d stored as %s, want %s: lost, repeated or out of order", i, at, stamp(i))
		}
	}
}

// storedReports lists the core's config reports' reported_at in the order stored (by id).
func storedReports(t *testing.T, coreURL string, ca *testpki.CA) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", coreURL+"/api/v2/config_reports?per_page=1000", nil)
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index struct {
		Results []struct {
			ID         int64  `json:"id"`
			ReportedAt string `json:"reported_at"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	sort.Slice(index.Results, func(i, j int) bool { return index.Results[i].ID < index.Results[j].ID })
	out := make([]string, len(index.Results))
	for i, r := range index.Results {
		out[i] = r.ReportedAt
	}
	return out
}

// A proxy in PFS registers as the installer does, through its zone's relay and the
// DMZ relay (it cannot reach the core): the OAuth signature made for the PFS relay's
// URL verifies at the core because the relays pass on the address the client used,
// and the core discovers the proxy's features through the DMZ relay's /proxy/pfs1.
func TestRegisterFromPFSThroughRelays(t *testing.T) {
	s := startCore(t)
	pfsProxy := s.startProxyTrusting(t, "pfs-proxy.example.test", false, "['dmz-relay.example.test']")
	dmz := newZoneRelayWith(t, s.ca, s.dir, "dmz-relay.example.test", s.coreURL,
		"[foreman.example.test]", "[pfs-relay.example.test]",
		":allow: [smart_proxies]\n:downstream_proxies:\n  pfs1: "+pfsProxy.url+"\n")
	pfs := newZoneRelayWith(t, s.ca, s.dir, "pfs-relay.example.test", dmz.url, "[]", "[]", ":allow: [smart_proxies]\n")
	dmz.start(t)
	pfs.start(t)

	viaDMZ := dmz.url + "/proxy/pfs1"
	code, out := s.register(t, pfsProxy, "--foreman-url", pfs.url, "--url", viaDMZ)
	if code != 0 || !strings.Contains(out, "Created smart proxy pfs-proxy.example.test") {
		t.Fatalf("registration through the relays: exit %d:\n%s", code, out)
	}
	if url, features := s.stored(t, pfsProxy.name); url != viaDMZ || !reflect.DeepEqual(features, []string{"Logs", "TFTP"}) {
		t.Fatalf("stored %s %v", url, features)
	}
	// Again: found by its name, refreshed through the relays.
	if code, out := s.register(t, pfsProxy, "--foreman-url", pfs.url, "--url", viaDMZ); code != 0 || !strings.Contains(out, "Refreshed smart proxy pfs-proxy.example.test") {
		t.Fatalf("second registration: exit %d:\n%s", code, out)
	}
	// A wrong secret is refused by the core and said so through the relays.
	if code, out := s.register(t, pfsProxy, "--foreman-url", pfs.url, "--url", viaDMZ, "--oauth-consumer-secret", "not-the-secret"); code != 1 || !strings.Contains(out, "Response: 401 Unauthorized") {
		t.Fatalf("wrong secret through the relays: exit %d:\n%s", code, out)
	}
}
