package e2e

// The installer's registration end to end: smart-proxy register against foreman-core,
// which discovers the proxies' features over https with its client certificate.

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

const (
	oauthKey      = "e2e-consumer-key"
	oauthSecret   = "e2e-consumer-secret-0123456789ab"
	adminPassword = "e2e-admin-password"
)

// site is a core and what is needed to talk to it.
type site struct {
	ca      *testpki.CA
	coreURL string
	api     *http.Client
	dir     string
	ns      string       // network namespace of the processes, "" = the test's
	client  testpki.Cert // the core's client certificate towards proxies
}

// startCore runs foreman-core on https with a fresh SQLite state, OAuth on, and the
// core's client certificate (CN foreman.example.test) for calls to proxies.
func startCore(t *testing.T) *site {
	t.Helper()
	return startCoreIn(t, "", "")
}

// startCoreIn is startCore inside network namespace ns ("" = the test's own), with
// extra lines appended to foreman-core.yml.
func startCoreIn(t *testing.T, ns, extra string) *site {
	t.Helper()
	ca := testpki.NewCA(t, "E2E CA")
	dir := t.TempDir()
	server := ca.IssueLoopback(t, "localhost")
	client := ca.Issue(t, testpki.Spec{CN: "foreman.example.test", DNSNames: []string{"foreman.example.test"}})
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
oauth_active: true
oauth_consumer_key: %s
oauth_consumer_secret: %s
oauth_map_users: true
proxy_request_timeout: 5
ssl_certificate: %s
ssl_priv_key: %s
ssl_ca_file: %s
log_level: DEBUG
log_file: STDOUT
%s`, port, server.CertFile, server.KeyFile, ca.CAFile, filepath.Join(dir, "state"), adminPassword, oauthKey, oauthSecret,
		client.CertFile, client.KeyFile, ca.CAFile, extra))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startIn(t, ns, "foreman-core", addr, bin.core, "--config", conf)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	if ns != "" {
		transport.DialContext = pxeboot.DialIn(ns)
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &site{ca: ca, coreURL: "https://" + addr, api: &http.Client{Transport: transport, Timeout: 30 * time.Second}, dir: dir,
		ns: ns, client: client}
}

// smartProxy is a smart-proxy process on https.
type smartProxy struct {
	name     string
	url      string // as registered: https://127.0.0.1:<port>
	settings string // its settings.yml
	logFile  string
	proc     *process
}

// startProxy runs smart-proxy with logs and tftp enabled, tftp made to fail when
// brokenTFTP. Only the core's certificate name is trusted.
func (s *site) startProxy(t *testing.T, name string, brokenTFTP bool) *smartProxy {
	t.Helper()
	return s.startProxyTrusting(t, name, brokenTFTP, "['foreman.example.test']")
}

// startProxyTrusting is startProxy with its :trusted_hosts: given.
func (s *site) startProxyTrusting(t *testing.T, name string, brokenTFTP bool, trustedHosts string) *smartProxy {
	t.Helper()
	dir := filepath.Join(s.dir, name)
	cert := s.ca.Issue(t, testpki.Spec{CN: name, DNSNames: []string{name, "localhost"}, IPs: loopbackIPs})
	port := freePort(t)
	listen := "false"
	if brokenTFTP {
		listen = "not-an-address"
	}
	writeFile(t, filepath.Join(dir, "settings.d", "logs.yml"), ":enabled: true\n")
	writeFile(t, filepath.Join(dir, "settings.d", "tftp.yml"), fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: %s\n", filepath.Join(dir, "tftpboot"), listen))
	logFile := filepath.Join(dir, "proxy.log")
	settings := writeFile(t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(`---
:settings_directory: settings.d
:bind_host: ['127.0.0.1']
:https_port: %d
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:trusted_hosts: %s
:log_file: %s
`, port, cert.CertFile, cert.KeyFile, s.ca.CAFile, trustedHosts, logFile))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := start(t, name, addr, bin.proxy, "--settings", settings)
	return &smartProxy{name: name, url: "https://" + addr, settings: settings, logFile: logFile, proc: p}
}

// register runs `smart-proxy register` as the installer would on the proxy's host.
func (s *site) register(t *testing.T, p *smartProxy, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"register", "--foreman-url", s.coreURL, "--oauth-consumer-key", oauthKey,
		"--oauth-consumer-secret", oauthSecret, "--ssl-ca", s.ca.CAFile, "--name", p.name, "--settings", p.settings}, extra...)
	cmd := exec.Command(bin.proxy, args...)
	if s.ns != "" {
		cmd = pxeboot.Command(s.ns, bin.proxy, args...)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// call is an API request as admin with HTTP Basic; it returns status and decoded body.
func (s *site) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.coreURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s %s: %d %s: not a JSON object: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, v
}

// stored is the proxy named name as the core lists it: URL and feature names.
func (s *site) stored(t *testing.T, name string) (string, []string) {
	t.Helper()
	status, index := s.call(t, "GET", `/api/v2/smart_proxies?search=name%3D%22`+name+`%22`, "")
	results, _ := index["results"].([]any)
	if status != 200 || len(results) != 1 {
		t.Fatalf("search for %s: %d %v", name, status, index)
	}
	p := results[0].(map[string]any)
	return p["url"].(string), featureNames(p)
}

func featureNames(proxy map[string]any) []string {
	var names []string
	list, _ := proxy["features"].([]any)
	for _, f := range list {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	return names
}

func TestRegistrationEndToEnd(t *testing.T) {
	s := startCore(t)
	p1 := s.startProxy(t, "proxy1.example.test", false)

	// A wrong secret: the core's verifier refuses, register says what the installer says.
	code, out := s.register(t, p1, "--url", p1.url, "--oauth-consumer-secret", "not-the-secret")
	if want := "Response: 401 Unauthorized: Often this is caused by invalid Oauth credentials sent to Foreman at 127.0.0.1"; code != 1 || !strings.Contains(out, want) {
		t.Fatalf("wrong secret: exit %d:\n%s\nwant %q", code, out, want)
	}

	// First run: search, create; the core discovers Logs and TFTP over https.
	code, out = s.register(t, p1, "--url", p1.url)
	if code != 0 || !strings.Contains(out, "Created smart proxy proxy1.example.test") {
		t.Fatalf("first registration: exit %d:\n%s", code, out)
	}
	if url, features := s.stored(t, p1.name); url != p1.url || !reflect.DeepEqual(features, []string{"Logs", "TFTP"}) {
		t.Fatalf("stored %s %v", url, features)
	}

	// Second run with another URL for the same proxy: the URL is updated, features refreshed.
	newURL := strings.Replace(p1.url, "127.0.0.1", "localhost", 1)
	code, out = s.register(t, p1, "--url", newURL)
	if code != 0 || !strings.Contains(out, "Updated the URL of smart proxy proxy1.example.test") ||
		!strings.Contains(out, "Refreshed smart proxy proxy1.example.test") {
		t.Fatalf("second registration: exit %d:\n%s", code, out)
	}
	if url, features := s.stored(t, p1.name); url != newURL || !reflect.DeepEqual(features, []string{"Logs", "TFTP"}) {
		t.Fatalf("stored %s %v", url, features)
	}

	// A proxy whose TFTP failed: stored with Logs only, and register fails as the
	// installer does, naming the feature and the proxy's log file.
	p2 := s.startProxy(t, "proxy2.example.test", true)
	code, out = s.register(t, p2, "--url", p2.url)
	want := "Proxy proxy2.example.test has failed to load one or more features (TFTP), check " + p2.logFile + " for configuration errors"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("broken proxy: exit %d:\n%s\nwant %q", code, out, want)
	}
	if _, features := s.stored(t, p2.name); !reflect.DeepEqual(features, []string{"Logs"}) {
		t.Fatalf("proxy2 stored with %v", features)
	}

	// A proxy that is down: 422 with Foreman's messages, and nothing stored.
	down := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	status, reply := s.call(t, "POST", "/api/v2/smart_proxies", `{"smart_proxy":{"name":"down.example.test","url":"`+down+`"}}`)
	if status != 422 || !strings.HasPrefix(fullMessages(reply)[0], "Unable to communicate with the proxy: ") ||
		fullMessages(reply)[1] != "Please check the proxy is configured and running on the host." {
		t.Fatalf("down proxy: %d %v", status, reply)
	}
	if status, index := s.call(t, "GET", `/api/v2/smart_proxies?search=name%3D%22down.example.test%22`, ""); status != 200 || index["subtotal"] != float64(0) {
		t.Fatalf("down proxy stored: %d %v", status, index)
	}

	// proxy1 stops: its refresh fails the same way and its features stay as they were.
	p1.proc.stop()
	code, out = s.register(t, p1, "--url", newURL)
	if code != 1 || !strings.Contains(out, "Unable to communicate with the proxy: ") {
		t.Fatalf("refresh of a stopped proxy: exit %d:\n%s", code, out)
	}
	if _, features := s.stored(t, p1.name); !reflect.DeepEqual(features, []string{"Logs", "TFTP"}) {
		t.Fatalf("proxy1 after a failed refresh: %v", features)
	}
}

func fullMessages(reply map[string]any) []string {
	e, _ := reply["error"].(map[string]any)
	list, _ := e["full_messages"].([]any)
	out := []string{"", ""}
	for i, m := range list {
		if i < 2 {
			out[i], _ = m.(string)
		}
	}
	return out
}
