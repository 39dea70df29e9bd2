package main

// Integration tests: the real binary as a subprocess, real TLS over loopback sockets,
// certificates from internal/testpki.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testbin"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// binary is the smart-proxy built once for all tests by TestMain.
var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]*string{"github.com/smartproxy/smartproxy/cmd/smart-proxy": &binary})
}

// --- certificates ---------------------------------------------------------------

// pki is everything one test needs: the proxy's CA and server certificate, and clients.
type pki struct {
	ca        *testpki.CA
	server    testpki.Cert
	trusted   testpki.Cert // CN listed in trusted_hosts
	sanOnly   testpki.Cert // CN not listed, one DNS SAN listed
	mixedCase testpki.Cert // CN listed, but in another letter case
	untrusted testpki.Cert // signed by the CA, name not listed
	foreignCA testpki.Cert // trusted name, signed by a CA the proxy does not know
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := testpki.NewCA(t, "Smart Proxy Test CA")
	other := testpki.NewCA(t, "Some Other CA")
	// Client certificates carry only the names given here: several must have no SAN.
	client := func(ca *testpki.CA, cn string, dnsNames ...string) testpki.Cert {
		return ca.Issue(t, testpki.Spec{CN: cn, DNSNames: dnsNames, Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	}
	return &pki{
		ca: ca,
		server: ca.Issue(t, testpki.Spec{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
		trusted:   client(ca, "foreman.example.com"),
		sanOnly:   client(ca, "not-listed.example.com", "other.example.com", "san.example.com"),
		mixedCase: client(ca, "Mixed.EXAMPLE.com"),
		untrusted: client(ca, "intruder.example.com", "also-intruder.example.com"),
		foreignCA: client(other, "foreman.example.com"),
	}
}

// trustedHosts is the list that trusts exactly the certificates meant to be trusted.
const trustedHosts = "['foreman.example.com', 'SAN.example.com', 'mixed.example.COM']"

// --- the proxy process ----------------------------------------------------------

// proxy is a running smart-proxy subprocess.
type proxy struct {
	httpURL, httpsURL string
	cmd               *exec.Cmd
	exited            chan struct{} // closed when the process has exited
	waitErr           error
	out               *testbin.Output
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeSettings writes settings.yml (http and https on free loopback ports, extra
// appended) and settings.d/<name> files; it returns the settings.yml path and ports.
func writeSettings(t *testing.T, p *pki, extra string, files map[string]string) (path string, httpPort, httpsPort int) {
	t.Helper()
	dir := t.TempDir()
	httpPort, httpsPort = freePort(t), freePort(t)
	global := fmt.Sprintf(`---
:settings_directory: settings.d
:bind_host: ['127.0.0.1']
:http_port: %d
:https_port: %d
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:log_level: DEBUG
%s`, httpPort, httpsPort, p.server.CertFile, p.server.KeyFile, p.ca.CAFile, extra)
	if !strings.Contains(extra, ":log_file:") {
		global += "\n:log_file: STDOUT\n"
	}
	path = writeFile(t, dir, "settings.yml", global)
	if err := os.MkdirAll(filepath.Join(dir, "settings.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, "settings.d"), name, content)
	}
	return path, httpPort, httpsPort
}

// startProxy runs the binary with the settings and waits until both listeners answer.
// The process is killed when the test ends; its output is logged if the test failed.
func startProxy(t *testing.T, p *pki, extra string, files map[string]string) *proxy {
	t.Helper()
	return startProxyWith(t, p, extra, files, nil)
}

// startProxyWith is startProxy with more arguments and environment for the command.
func startProxyWith(t *testing.T, p *pki, extra string, files map[string]string, tune func(*exec.Cmd)) *proxy {
	t.Helper()
	path, httpPort, httpsPort := writeSettings(t, p, extra, files)
	px := &proxy{
		httpURL:  fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		httpsURL: fmt.Sprintf("https://127.0.0.1:%d", httpsPort),
		cmd:      exec.Command(binary, "--settings", path),
		exited:   make(chan struct{}),
		out:      &testbin.Output{},
	}
	px.cmd.Stdout, px.cmd.Stderr = px.out, px.out
	if tune != nil {
		tune(px.cmd)
	}
	if err := px.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		px.waitErr = px.cmd.Wait()
		close(px.exited)
	}()
	t.Cleanup(func() {
		_ = px.cmd.Process.Kill()
		<-px.exited
		if t.Failed() {
			t.Logf("smart-proxy output:\n%s", px.out.String())
		}
	})
	px.waitReady(t, p)
	return px
}

// waitReady polls /features on both listeners until they answer or the process exits.
func (px *proxy) waitReady(t *testing.T, p *pki) {
	t.Helper()
	client := p.client(t, nil)
	deadline := time.Now().Add(60 * time.Second) // a start, not a speed test: CI machines can be loaded
	for _, u := range []string{px.httpURL, px.httpsURL} {
		for {
			resp, err := client.Get(u + "/features")
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case <-px.exited:
				t.Fatalf("smart-proxy exited before answering (%v):\n%s", px.waitErr, px.out.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("smart-proxy does not answer on %s: %v\n%s", u, err, px.out.String())
			}
		}
	}
}

// client returns an https client that trusts the test CA and presents cert (nil: none).
func (p *pki) client(t *testing.T, cert *testpki.Cert) *http.Client {
	t.Helper()
	conf := &tls.Config{RootCAs: p.ca.Pool}
	if cert != nil {
		// Always present the certificate, as curl does; Go's default would silently
		// withhold one whose issuer the server did not list as acceptable.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert.TLS, nil
		}
	}
	tr := &http.Transport{TLSClientConfig: conf}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// response is a finished request.
type response struct {
	status int
	body   string
	header http.Header
}

func get(t *testing.T, client *http.Client, url string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return response{status: resp.StatusCode, body: string(body), header: resp.Header}
}

func expect(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

// untrustedMessage is the 403 body for a client whose names are not in trusted_hosts.
func untrustedMessage(name, path string) string {
	return fmt.Sprintf("Untrusted client %s attempted to access %s. Check :trusted_hosts: in settings.yml", name, path)
}

// featureEntry is one /v2/features entry.
type featureEntry struct {
	HTTPEnabled  bool           `json:"http_enabled"`
	HTTPSEnabled bool           `json:"https_enabled"`
	Settings     map[string]any `json:"settings"`
	State        string         `json:"state"`
	Capabilities []string       `json:"capabilities"`
}

// decodeV2 checks that every /v2/features entry has exactly the five keys of spec §2.3
// with the right JSON types, and decodes the reply.
func decodeV2(t *testing.T, body string) map[string]featureEntry {
	t.Helper()
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("/v2/features is not a JSON object of objects: %v\n%s", err, body)
	}
	for name, fields := range raw {
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"capabilities", "http_enabled", "https_enabled", "settings", "state"}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v, want %v", name, keys, want)
		}
		for key, prefix := range map[string]string{"settings": "{", "capabilities": "[", "state": `"`} {
			if v := string(fields[key]); !strings.HasPrefix(v, prefix) {
				t.Errorf("%s: %s is %s, want a JSON value starting with %s", name, key, v, prefix)
			}
		}
		for _, key := range []string{"http_enabled", "https_enabled"} {
			if v := string(fields[key]); v != "true" && v != "false" {
				t.Errorf("%s: %s is %s, want a boolean", name, key, v)
			}
		}
	}
	var out map[string]featureEntry
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// --- tests ----------------------------------------------------------------------

// TestHTTPSClientCertificates runs one proxy with trusted_hosts set and logs on https
// only, and checks every kind of client against it.
func TestHTTPSClientCertificates(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, ":trusted_hosts: "+trustedHosts+"\n", map[string]string{"logs.yml": "---\n:enabled: https\n"})
	noCert := p.client(t, nil)

	t.Run("trusted CN gets /v2/features", func(t *testing.T) {
		r := get(t, p.client(t, &p.trusted), px.httpsURL+"/v2/features")
		if r.status != http.StatusOK {
			t.Fatalf("status %d %q, want 200", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		features := decodeV2(t, r.body)
		logs, ok := features["logs"]
		if !ok {
			t.Fatalf("no logs entry in %s", r.body)
		}
		if logs.State != "running" || logs.HTTPEnabled || !logs.HTTPSEnabled || len(logs.Settings) != 0 || len(logs.Capabilities) != 0 {
			t.Errorf("logs entry %+v, want running, https only, no settings, no capabilities", logs)
		}
	})

	certCases := []struct {
		name   string
		cert   *testpki.Cert
		status int
		body   string // "" means: any JSON object
	}{
		{"no certificate", nil, http.StatusForbidden, "No client SSL certificate supplied"},
		{"CN and SANs not listed", &p.untrusted, http.StatusForbidden, untrustedMessage("intruder.example.com", "/v2/features")},
		{"only a DNS SAN listed", &p.sanOnly, http.StatusOK, ""},
		{"listed in another letter case", &p.mixedCase, http.StatusOK, ""},
	}
	for _, tc := range certCases {
		t.Run(tc.name, func(t *testing.T) {
			client := noCert
			if tc.cert != nil {
				client = p.client(t, tc.cert)
			}
			r := get(t, client, px.httpsURL+"/v2/features")
			if tc.body != "" {
				expect(t, r, tc.status, tc.body)
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d %q, want %d", r.status, r.body, tc.status)
			}
			if _, ok := decodeV2(t, r.body)["logs"]; !ok {
				t.Errorf("no logs entry in %s", r.body)
			}
		})
	}

	t.Run("certificate from another CA fails the handshake", func(t *testing.T) {
		_, err := p.client(t, &p.foreignCA).Get(px.httpsURL + "/v2/features")
		if err == nil {
			t.Fatal("request with a certificate from an unknown CA succeeded")
		}
		if !strings.Contains(err.Error(), "tls") {
			t.Errorf("error %v, want a TLS error", err)
		}
	})

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		conf := p.client(t, &p.trusted).Transport.(*http.Transport).TLSClientConfig.Clone()
		conf.MinVersion, conf.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		conn, err := tls.Dial("tcp", strings.TrimPrefix(px.httpsURL, "https://"), conf)
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.1 handshake succeeded")
		}
	})

	t.Run("TLS 1.2 is accepted", func(t *testing.T) {
		conf := p.client(t, &p.trusted).Transport.(*http.Transport).TLSClientConfig.Clone()
		conf.MaxVersion = tls.VersionTLS12
		conn, err := tls.Dial("tcp", strings.TrimPrefix(px.httpsURL, "https://"), conf)
		if err != nil {
			t.Fatalf("TLS 1.2 handshake: %v", err)
		}
		defer conn.Close()
		if v := conn.ConnectionState().Version; v != tls.VersionTLS12 {
			t.Errorf("negotiated %x, want TLS 1.2", v)
		}
	})

	for _, base := range []struct{ name, url string }{{"https", px.httpsURL}, {"http", px.httpURL}} {
		t.Run("/features and /version without a certificate on "+base.name, func(t *testing.T) {
			expect(t, get(t, noCert, base.url+"/features"), http.StatusOK, `["logs"]`)
			expect(t, get(t, noCert, base.url+"/version"), http.StatusOK, `{"version":"`+Version+`","modules":{"logs":"`+Version+`"}}`)
		})
		t.Run("unknown URL on "+base.name, func(t *testing.T) {
			expect(t, get(t, noCert, base.url+"/no/such/thing"), http.StatusNotFound, "Requested url was not found")
		})
		t.Run("Server header on "+base.name, func(t *testing.T) {
			for _, path := range []string{"/features", "/no/such/thing"} {
				if got := get(t, noCert, base.url+path).header.Get("Server"); got != "foreman-proxy/"+Version {
					t.Errorf("%s: Server %q, want foreman-proxy/%s", path, got, Version)
				}
			}
		})
	}

	t.Run("https-only feature is served on https", func(t *testing.T) {
		r := get(t, p.client(t, &p.trusted), px.httpsURL+"/logs")
		if r.status != http.StatusOK || !strings.Contains(r.body, `"failed_modules"`) {
			t.Errorf("GET /logs on https: %d %q, want 200 with the log buffer", r.status, r.body)
		}
		expect(t, get(t, noCert, px.httpsURL+"/logs"), http.StatusForbidden, "No client SSL certificate supplied")
	})

	t.Run("https-only feature is not found on http", func(t *testing.T) {
		expect(t, get(t, noCert, px.httpURL+"/logs"), http.StatusNotFound, "Requested url was not found")
	})
}

// TestHTTPServesOnlyHTTPFeatures: without trusted_hosts, http serves features enabled
// for http and nothing else, and https needs a certificate but no listed name.
func TestHTTPServesOnlyHTTPFeatures(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		enabled             string
		onHTTP, onHTTPS     int
		httpFlag, httpsFlag bool
	}{
		{"https", http.StatusNotFound, http.StatusOK, false, true},
		{"http", http.StatusOK, http.StatusNotFound, true, false},
		{"true", http.StatusOK, http.StatusOK, true, true},
	} {
		t.Run(":enabled: "+tc.enabled, func(t *testing.T) {
			px := startProxy(t, p, "", map[string]string{"logs.yml": ":enabled: " + tc.enabled + "\n"})
			client := p.client(t, &p.untrusted) // any name passes: trusted_hosts is unset
			if got := get(t, client, px.httpURL+"/logs").status; got != tc.onHTTP {
				t.Errorf("GET /logs on http: %d, want %d", got, tc.onHTTP)
			}
			if got := get(t, client, px.httpsURL+"/logs").status; got != tc.onHTTPS {
				t.Errorf("GET /logs on https: %d, want %d", got, tc.onHTTPS)
			}
			if tc.onHTTPS == http.StatusNotFound {
				// not mounted on https: unknown there, not a missing certificate
				expect(t, get(t, p.client(t, nil), px.httpsURL+"/logs"), http.StatusNotFound, "Requested url was not found")
			}
			r := get(t, client, px.httpURL+"/v2/features")
			if r.status != http.StatusOK {
				t.Fatalf("GET /v2/features on http: %d %q", r.status, r.body)
			}
			logs := decodeV2(t, r.body)["logs"]
			if logs.HTTPEnabled != tc.httpFlag || logs.HTTPSEnabled != tc.httpsFlag {
				t.Errorf("logs http_enabled=%v https_enabled=%v, want %v %v", logs.HTTPEnabled, logs.HTTPSEnabled, tc.httpFlag, tc.httpsFlag)
			}
		})
	}
}

// TestEmptyTrustedHostsDeniesEveryone: trusted_hosts: [] refuses even a valid certificate.
func TestEmptyTrustedHostsDeniesEveryone(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, ":trusted_hosts: []\n", nil)
	expect(t, get(t, p.client(t, &p.trusted), px.httpsURL+"/v2/features"),
		http.StatusForbidden, untrustedMessage("foreman.example.com", "/v2/features"))
	expect(t, get(t, p.client(t, nil), px.httpsURL+"/v2/features"),
		http.StatusForbidden, "No client SSL certificate supplied")
	expect(t, get(t, p.client(t, nil), px.httpsURL+"/features"), http.StatusOK, `["logs"]`)
}

// TestFailedFeature: a feature with a bad :enabled: is failed in v2, absent from
// /features and /version, and the proxy keeps answering.
func TestFailedFeature(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, "", map[string]string{"logs.yml": ":enabled: maybe\n"})
	client := p.client(t, &p.trusted)

	r := get(t, client, px.httpsURL+"/v2/features")
	if r.status != http.StatusOK {
		t.Fatalf("GET /v2/features: %d %q", r.status, r.body)
	}
	logs := decodeV2(t, r.body)["logs"]
	if logs.State != "failed" || logs.HTTPEnabled || logs.HTTPSEnabled {
		t.Errorf("logs entry %+v, want failed with both listeners off", logs)
	}
	for _, base := range []string{px.httpURL, px.httpsURL} {
		expect(t, get(t, client, base+"/features"), http.StatusOK, `[]`)
		expect(t, get(t, client, base+"/version"), http.StatusOK, `{"version":"`+Version+`","modules":{}}`)
		expect(t, get(t, client, base+"/logs"), http.StatusNotFound, "Requested url was not found")
	}
	if out := px.out.String(); !strings.Contains(out, "logs.yml: :enabled: must be true, false, http or https") {
		t.Errorf("log does not name the file and key of the failure:\n%s", out)
	}
}

// TestSIGTERMStopsCleanly: SIGTERM makes the process exit 0.
func TestSIGTERMStopsCleanly(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, "", nil)
	if err := px.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-px.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("smart-proxy still running 30s after SIGTERM")
	}
	if px.waitErr != nil {
		t.Errorf("smart-proxy exited with %v after SIGTERM, want status 0", px.waitErr)
	}
	if _, err := p.client(t, nil).Get(px.httpURL + "/features"); err == nil {
		t.Error("http listener still answers after exit")
	}
}

// runBinary runs the binary to completion and returns its output and exit status.
func runBinary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("running smart-proxy %v: %v", args, err)
	return "", 0
}

func TestVersionFlag(t *testing.T) {
	out, code := runBinary(t, "--version")
	if code != 0 || strings.TrimSpace(out) != Version {
		t.Errorf("--version: exit %d, output %q; want 0 and %q", code, out, Version)
	}
}

func TestCheckConfig(t *testing.T) {
	p := newPKI(t)
	cases := []struct {
		name  string
		extra string
		files map[string]string
		edit  func(p *pki, settings string) string // changes settings.yml when set
		code  int
		want  []string // regular expressions the output must match, one line each
	}{
		{
			name:  "all fine",
			files: map[string]string{"logs.yml": ":enabled: true\n"},
			code:  0,
			want:  []string{`^logs\s+ok$`},
		},
		{
			name:  "disabled feature is fine",
			files: map[string]string{"logs.yml": ":enabled: false\n"},
			code:  0,
			want:  []string{`^logs\s+disabled$`},
		},
		{
			name:  "unknown key warns but passes",
			files: map[string]string{"logs.yml": ":enabled: true\n:colour: blue\n"},
			code:  0,
			want:  []string{`^warning: \S+/settings.d/logs.yml: unknown setting :colour: ignored$`, `^logs\s+ok$`},
		},
		{
			name:  "feature that would fail",
			files: map[string]string{"logs.yml": ":enabled: maybe\n"},
			code:  1,
			want:  []string{`^logs\s+failed$`, `\S+/settings.d/logs.yml: :enabled: must be true, false, http or https, got "maybe"$`},
		},
		{
			name:  "bad global settings and a bad feature",
			extra: ":log_buffer: lots\n:forward_verify: sometimes\n",
			files: map[string]string{"logs.yml": ":enabled: 3\n"},
			code:  1,
			want: []string{`\S+/settings.yml: :forward_verify: must be true or false`, `\S+/settings.yml: :log_buffer: must be an integer`,
				`\S+/settings.d/logs.yml: :enabled: must be true, false, http or https, got "3"$`, `^logs\s+failed$`},
		},
		{
			name:  "certificate close to its end",
			files: map[string]string{"logs.yml": ":enabled: true\n"},
			code:  0, // the test certificates live a day
			want:  []string{`^warning: https: ssl_certificate \S+ expires on \d{4}-\d\d-\d\d, in 0 days$`, `^logs\s+ok$`},
		},
		{
			name: "key of another certificate",
			edit: func(p *pki, s string) string { return strings.Replace(s, p.server.KeyFile, p.trusted.KeyFile, 1) },
			code: 1,
			want: []string{`^error: https: loading ssl_certificate \S+ / ssl_private_key \S+: tls: private key does not match public key$`},
		},
		{
			name: "CA file without a certificate",
			edit: func(p *pki, s string) string {
				return strings.Replace(s, ":ssl_ca_file: "+p.ca.CAFile, ":ssl_ca_file: "+p.server.KeyFile, 1)
			},
			code: 1,
			want: []string{`^error: https: ssl_ca_file \S+ holds no PEM certificate$`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, _, _ := writeSettings(t, p, tc.extra, tc.files)
			if tc.edit != nil {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Dir(path), filepath.Base(path), tc.edit(p, string(b)))
			}
			out, code := runBinary(t, "check-config", "--settings", path)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !regexp.MustCompile("(?m)" + w).MatchString(out) {
					t.Errorf("no output line matches %s", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}
