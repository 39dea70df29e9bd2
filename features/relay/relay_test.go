package relay_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/relay"
	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/registry"
)

// relayYAML is settings.d/relay.yml for a relay in front of nextHop, presenting cert.
func relayYAML(t *testing.T, ca *testpki.CA, cert testpki.Cert, nextHop, extra string) string {
	return fmt.Sprintf(":enabled: true\n:next_hop_url: %s\n:next_hop_ssl_ca: %s\n:next_hop_ssl_cert: %s\n:next_hop_ssl_key: %s\n"+
		":queue_dir: %s\n:retry_initial_ms: 20\n:retry_max_ms: 200\n:timeout_seconds: 5\n%s",
		nextHop, ca.CAFile, cert.CertFile, cert.KeyFile, t.TempDir(), extra)
}

// startRelay runs the relay (plus more features) in front of nextHop over real TLS.
func startRelay(t *testing.T, ca *testpki.CA, nextHop, extra string, files map[string]string, more ...registry.Feature) *proxytest.Proxy {
	t.Helper()
	if files == nil {
		files = map[string]string{}
	}
	files["relay.yml"] = relayYAML(t, ca, ca.IssueLoopback(t, "pfs-relay"), nextHop, extra)
	p := proxytest.StartHTTPS(t, ca, "", files, append(more, relay.New())...)
	if s, err := p.Registry.StateOf("relay"); s != registry.Running {
		t.Fatalf("relay is %s: %v", s, err)
	}
	return p
}

// clientWith presents cert (none when nil) and trusts ca. The certificate is sent
// even when the server asks for another CA's, as a misconfigured peer would.
func clientWith(ca *testpki.CA, cert *testpki.Cert) *http.Client {
	conf := &tls.Config{RootCAs: ca.Pool}
	if cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
}

type answer struct {
	status int
	body   string
	header http.Header
}

func send(t *testing.T, c *http.Client, method, url, body string, header map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

// waitFor polls cond for up to 30 s (the machine is shared).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const reportJSON = `{"config_report":{"host":"web01.example.test","reported_at":"2026-12-06 00:37:21 UTC","status":{"applied":1},"metrics":{}}}`

func TestAllowListForwardsOnlyCorePaths(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), "", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)

	forwarded := []struct{ method, path, body, want string }{
		{"GET", "/node/web01.example.test?format=yml", "", "/node/web01.example.test?format=yml"},
		{"GET", "/unattended/provision?token=t1", "", "/unattended/provision?token=t1"},
		{"GET", "/unattended", "", "/unattended"},
		{"POST", "/unattended/built?token=t1", "log", "/unattended/built?token=t1"},
		{"POST", "/unattended/failed/7", "oops", "/unattended/failed/7"},
		{"GET", "/unattended/template/3/base/web", "", "/unattended/template/3/base/web"},
		{"GET", "/userdata/user-data", "", "/userdata/user-data"},
		{"GET", "/userdata/52:54:00:12:34:56/meta-data", "", "/userdata/52:54:00:12:34:56/meta-data"},
		{"GET", "/register?hostgroup_id=1", "", "/register?hostgroup_id=1"},
		{"POST", "/register", `{"host":{}}`, "/register"},
	}
	for _, f := range forwarded {
		before := len(core.requests())
		a := send(t, c, f.method, p.URL+f.path, f.body, map[string]string{"Content-Type": "text/plain"})
		if a.status != 200 {
			t.Fatalf("%s %s: %d %s", f.method, f.path, a.status, a.body)
		}
		got := core.requests()
		if len(got) != before+1 || got[before].Target != f.want || got[before].Method != f.method || got[before].Body != f.body {
			t.Fatalf("%s %s: core saw %+v, want %s %s", f.method, f.path, got[before:], f.method, f.want)
		}
	}

	queued := []string{"/api/hosts/facts", "/api/v2/hosts/facts", "/api/config_reports", "/api/v2/config_reports", "/api/reports"}
	for _, path := range queued {
		a := send(t, c, "POST", p.URL+path, reportJSON, map[string]string{"Content-Type": "application/json"})
		if a.status != http.StatusCreated || a.header.Get(relay.IdempotencyKeyHeader) == "" {
			t.Fatalf("POST %s: %d %s", path, a.status, a.body)
		}
	}
	waitFor(t, "the queued requests", func() bool { return len(core.storedRequests()) == len(forwarded)+len(queued) })
	for i, r := range core.storedRequests()[len(forwarded):] {
		if r.Target != queued[i] || r.Body != reportJSON || r.Header.Get("Content-Type") != "application/json" || r.Header.Get(relay.IdempotencyKeyHeader) == "" {
			t.Fatalf("queued request %d arrived as %+v", i, r)
		}
	}

	before := len(core.requests())
	refused := []struct{ method, path string }{
		{"GET", "/api/hosts"}, {"GET", "/api/v2/hosts/facts"}, {"POST", "/api/v2/hosts"}, {"GET", "/api/v2/smart_proxies"},
		{"DELETE", "/api/config_reports"}, {"GET", "/dhcp"}, {"GET", "/users/login"}, {"GET", "/node/.hidden"},
		{"GET", "/node/a%2F..%2Fetc"}, {"GET", "/proxy/unknown/features"}, {"PUT", "/unattended/built"}, {"GET", "/"},
	}
	for _, r := range refused {
		if a := send(t, c, r.method, p.URL+r.path, "", nil); a.status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", r.method, r.path, a.status, a.body)
		}
	}
	if n := len(core.requests()); n != before {
		t.Fatalf("refused paths reached the core: %+v", core.requests()[before:])
	}
}

func TestNarrowedAllowList(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), ":allow: [enc]\n", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)
	if a := send(t, c, "GET", p.URL+"/node/web01.example.test", "", nil); a.status != 200 {
		t.Fatalf("ENC: %d %s", a.status, a.body)
	}
	for _, path := range []string{"/api/config_reports", "/api/hosts/facts"} {
		if a := send(t, c, "POST", p.URL+path, reportJSON, nil); a.status != 404 || a.body != "Requested url was not found" {
			t.Fatalf("POST %s with allow [enc]: %d %s", path, a.status, a.body)
		}
	}
	if a := send(t, c, "GET", p.URL+"/unattended/provision", "", nil); a.status != 404 {
		t.Fatalf("/unattended with allow [enc]: %d", a.status)
	}
	if len(core.requests()) != 1 {
		t.Fatalf("core saw %d requests, want the ENC only", len(core.requests()))
	}
}

func TestForwardedForAndReEncryption(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), ":trusted_relays: [inner-relay.example.test, 10.9.9.0/24]\n", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	inner := ca.IssueLoopback(t, "inner-relay.example.test")

	cases := []struct {
		name   string
		cert   testpki.Cert
		sent   string
		want   string
		method string
		path   string
	}{
		{"client's own header is replaced", puppet, "6.6.6.6", "127.0.0.1", "GET", "/node/web01.example.test"},
		{"no header", puppet, "", "127.0.0.1", "GET", "/unattended/provision"},
		{"trusted relay's chain is extended", inner, "192.0.2.7", "192.0.2.7, 127.0.0.1", "GET", "/unattended/provision"},
		{"trusted relay, queued report", inner, "192.0.2.8, 10.9.9.1", "192.0.2.8, 10.9.9.1, 127.0.0.1", "POST", "/api/config_reports"},
		{"untrusted, queued report", puppet, "192.0.2.8", "127.0.0.1", "POST", "/api/config_reports"},
	}
	for _, tc := range cases {
		before := len(core.storedRequests())
		h := map[string]string{}
		if tc.sent != "" {
			h["X-Forwarded-For"] = tc.sent
		}
		a := send(t, clientWith(ca, &tc.cert), tc.method, p.URL+tc.path, map[bool]string{true: reportJSON}[tc.method == "POST"], h)
		if a.status >= 300 {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.body)
		}
		waitFor(t, tc.name, func() bool { return len(core.storedRequests()) > before })
		got := core.storedRequests()[before]
		if xff := strings.Join(got.Header.Values("X-Forwarded-For"), ", "); xff != tc.want {
			t.Errorf("%s: core saw X-Forwarded-For %q, want %q", tc.name, xff, tc.want)
		}
		if got.PeerCN != "pfs-relay" {
			t.Errorf("%s: core saw the client certificate %q, want the relay's own", tc.name, got.PeerCN)
		}
	}
}

// The core learns which address the client used (OAuth signatures, URLs in
// templates): the outermost relay's, never one a client wrote itself.
func TestForwardedOrigin(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), ":trusted_relays: [inner-relay.example.test]\n:allow: [enc, reports, unattended, smart_proxies]\n", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	inner := ca.IssueLoopback(t, "inner-relay.example.test")
	relayHost := strings.TrimPrefix(p.URL, "https://")
	forged := map[string]string{"X-Forwarded-Host": "evil.example.test", "X-Forwarded-Proto": "http", "X-Forwarded-Port": "81"}
	outer := map[string]string{"X-Forwarded-Host": "pfs-relay.example.test:8443", "X-Forwarded-Proto": "https"}
	cases := []struct {
		name         string
		cert         *testpki.Cert
		sent         map[string]string
		method, path string
		wantHost     string
	}{
		{"a client's own headers are replaced", &puppet, forged, "GET", "/node/web01.example.test", relayHost},
		{"on a queued report too", &puppet, forged, "POST", "/api/config_reports", relayHost},
		{"an installer without a certificate", nil, forged, "GET", "/unattended/provision", relayHost},
		{"registration, no header", nil, nil, "GET", "/api/v2/smart_proxies?search=name%3Dx", relayHost},
		{"a trusted relay's origin is kept", &inner, outer, "PUT", "/api/v2/smart_proxies/3/refresh", "pfs-relay.example.test:8443"},
	}
	for _, tc := range cases {
		before := len(core.storedRequests())
		body := map[bool]string{true: reportJSON}[tc.method == "POST"]
		a := send(t, clientWith(ca, tc.cert), tc.method, p.URL+tc.path, body, tc.sent)
		if a.status >= 300 {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.body)
		}
		waitFor(t, tc.name, func() bool { return len(core.storedRequests()) > before })
		got := core.storedRequests()[before]
		if host, proto := got.Header.Values("X-Forwarded-Host"), got.Header.Values("X-Forwarded-Proto"); len(host) != 1 || host[0] != tc.wantHost || len(proto) != 1 || proto[0] != "https" {
			t.Errorf("%s: core saw X-Forwarded-Host %q, -Proto %q; want %q, https", tc.name, host, proto, tc.wantHost)
		}
		if port := got.Header.Values("X-Forwarded-Port"); len(port) != 0 {
			t.Errorf("%s: a client's X-Forwarded-Port reached the core: %q", tc.name, port)
		}
	}
	// Not listed in :allow:, the registration routes are not there.
	q := startRelay(t, ca, core.URL(), "", nil)
	if a := send(t, clientWith(ca, nil), "POST", q.URL+"/api/v2/smart_proxies", `{}`, nil); a.status != 404 {
		t.Fatalf("registration with the default allow-list: %d %s", a.status, a.body)
	}
}

func TestClientCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	other := testpki.NewCA(t, "other-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), "", nil)
	foreign := other.IssueLoopback(t, "puppet.example.test")

	// A certificate of another CA fails the handshake: nothing is answered or forwarded.
	req, _ := http.NewRequest("POST", p.URL+"/api/config_reports", strings.NewReader(reportJSON))
	resp, err := clientWith(ca, &foreign).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA got %d", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "bad certificate") && !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("a certificate of another CA: %v, want the handshake refused", err)
	}
	// Without a certificate, ENC, facts and reports are refused; provisioning is public.
	none := clientWith(ca, nil)
	for _, path := range []string{"/node/web01.example.test", "/api/config_reports"} {
		method := map[bool]string{true: "GET", false: "POST"}[strings.HasPrefix(path, "/node")]
		if a := send(t, none, method, p.URL+path, reportJSON, nil); a.status != http.StatusForbidden || a.body != "No client SSL certificate supplied" {
			t.Fatalf("%s without certificate: %d %s", path, a.status, a.body)
		}
	}
	if a := send(t, none, "GET", p.URL+"/unattended/provision?token=t", "", nil); a.status != 200 {
		t.Fatalf("/unattended without certificate: %d %s", a.status, a.body)
	}
	if n := len(core.requests()); n != 1 {
		t.Fatalf("core saw %d requests, want only the /unattended one", n)
	}

	// The next hop refuses the relay if the relay presents a certificate of another CA.
	wrongCert := other.IssueLoopback(t, "pfs-relay")
	files := map[string]string{"relay.yml": relayYAML(t, ca, wrongCert, core.URL(), "")}
	p2 := proxytest.StartHTTPS(t, ca, "", files, relay.New())
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	if a := send(t, clientWith(ca, &puppet), "GET", p2.URL+"/unattended/provision", "", nil); a.status != http.StatusBadGateway {
		t.Fatalf("relay with a foreign certificate: %d %s", a.status, a.body)
	}
}

func TestENCServedFromCacheWhenCoreIsDown(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), "", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)

	live := send(t, c, "GET", p.URL+"/node/web01.example.test?format=yml", "", nil)
	if live.status != 200 || !strings.Contains(live.body, "foreman_fqdn: web01.example.test") || live.header.Get(relay.StaleHeader) != "" {
		t.Fatalf("live ENC: %d %v %s", live.status, live.header, live.body)
	}
	if a := send(t, c, "GET", p.URL+"/node/unknown.example.test?format=yml", "", nil); a.status != 404 {
		t.Fatalf("unknown host: %d, want the core's 404 passed on", a.status)
	}

	core.setFail(http.StatusServiceUnavailable) // what a relay says when it cannot reach the core
	stale := send(t, c, "GET", p.URL+"/node/web01.example.test?format=yml", "", nil)
	if stale.status != 200 || stale.body != live.body || stale.header.Get(relay.StaleHeader) != "true" {
		t.Fatalf("ENC with the next hop at 503: %d %v %q", stale.status, stale.header, stale.body)
	}
	core.srv.Close() // unreachable
	stale = send(t, c, "GET", p.URL+"/node/web01.example.test?format=yml", "", nil)
	if stale.status != 200 || stale.body != live.body || stale.header.Get(relay.StaleHeader) != "true" {
		t.Fatalf("ENC with the core down: %d %v %q", stale.status, stale.header, stale.body)
	}
	// Another query is another answer: not served from this cache.
	if a := send(t, c, "GET", p.URL+"/node/web01.example.test", "", nil); a.status != http.StatusBadGateway || !strings.Contains(a.body, "no cached answer") {
		t.Fatalf("uncached ENC with the core down: %d %s", a.status, a.body)
	}
	m := send(t, c, "GET", p.URL+"/metrics", "", nil)
	if !strings.Contains(m.body, "smartproxy_relay_enc_stale_total 2") {
		t.Fatalf("metrics do not count the stale answers:\n%s", m.body)
	}
}

func TestQueueFullAnswers503(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	p := startRelay(t, ca, deadURL(t), ":queue_max_entries: 3\n", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)
	for i := 0; i < 3; i++ {
		if a := send(t, c, "POST", p.URL+"/api/config_reports", reportJSON, nil); a.status != http.StatusCreated {
			t.Fatalf("report %d: %d %s", i, a.status, a.body)
		}
	}
	a := send(t, c, "POST", p.URL+"/api/hosts/facts", `{"name":"web01"}`, nil)
	if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "Relay queue is full (3 requests") || a.header.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %v %s", a.status, a.header, a.body)
	}
	waitFor(t, "a failed delivery attempt", func() bool {
		m := send(t, c, "GET", p.URL+"/metrics", "", nil).body
		return strings.Contains(m, "smartproxy_relay_delivery_errors_total") && !strings.Contains(m, "smartproxy_relay_delivery_errors_total 0\n")
	})
	m := send(t, c, "GET", p.URL+"/metrics", "", nil).body
	for _, want := range []string{"smartproxy_relay_queue_depth 3", "smartproxy_relay_queue_full_total 1", "smartproxy_relay_delivered_total 0"} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %q:\n%s", want, m)
		}
	}
	if !strings.Contains(m, "smartproxy_relay_queue_oldest_age_seconds") {
		t.Fatalf("metrics lack the oldest age:\n%s", m)
	}
	v2 := send(t, c, "GET", p.URL+"/v2/features", "", nil).body
	if !strings.Contains(v2, `"depth":3`) || !strings.Contains(v2, `"max_entries":3`) || !strings.Contains(v2, `"last_error":"`) {
		t.Fatalf("v2 features lack the queue state: %s", v2)
	}
}

func TestDeliveryRetriesServerErrorsAndDropsRefusals(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), "", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)

	core.setFail(http.StatusInternalServerError)
	send(t, c, "POST", p.URL+"/api/config_reports", `{"n":1}`, nil)
	waitFor(t, "three attempts", func() bool { return len(core.requests()) >= 3 })
	core.setFail(0)
	waitFor(t, "the retried report", func() bool { return len(core.storedRequests()) == 1 })
	attempts := core.requests()
	for _, r := range attempts {
		if r.Header.Get(relay.IdempotencyKeyHeader) != attempts[0].Header.Get(relay.IdempotencyKeyHeader) {
			t.Fatal("a retry carried another idempotency key")
		}
	}

	core.setFail(http.StatusUnprocessableEntity)
	send(t, c, "POST", p.URL+"/api/config_reports", `{"n":2}`, nil)
	waitFor(t, "the refused report", func() bool { return len(core.requests()) == len(attempts)+1 })
	core.setFail(0)
	send(t, c, "POST", p.URL+"/api/config_reports", `{"n":3}`, nil)
	waitFor(t, "the next report", func() bool { return len(core.storedRequests()) == 2 })
	if got := core.storedRequests()[1].Body; got != `{"n":3}` {
		t.Fatalf("after a 422 the core got %s, want the next report", got)
	}
	if n := len(core.requests()); n != len(attempts)+2 {
		t.Fatalf("the refused report was sent again: %d requests", n)
	}
	// The loop counts a delivery once it has the core's answer, just after the core stored it.
	waitFor(t, "the counters", func() bool {
		m := send(t, c, "GET", p.URL+"/metrics", "", nil).body
		return strings.Contains(m, "smartproxy_relay_dropped_total 1") && strings.Contains(m, "smartproxy_relay_delivered_total 2")
	})
}

func TestDownstreamProxy(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	pfsProxy := newStandInCore(t, ca)
	p := startRelay(t, ca, core.URL(), ":downstream_proxies:\n  pfs1: "+pfsProxy.URL()+"\n", nil)
	foreman := ca.IssueLoopback(t, "foreman.example.test")
	c := clientWith(ca, &foreman)

	a := send(t, c, "GET", p.URL+"/proxy/pfs1/v2/features?x=1", "", nil)
	if a.status != 200 || a.body != "core answered GET /v2/features?x=1" {
		t.Fatalf("GET through the relay: %d %s", a.status, a.body)
	}
	send(t, c, "PUT", p.URL+"/proxy/pfs1/dhcp/192.0.2.0/52%3A54%3A00%3A00%3A00%3A01", "a=1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	send(t, c, "GET", p.URL+"/proxy/pfs1", "", nil)
	got := pfsProxy.requests()
	if len(got) != 3 || got[1].Method != "PUT" || got[1].Target != "/dhcp/192.0.2.0/52%3A54%3A00%3A00%3A00%3A01" || got[1].Body != "a=1" || got[2].Target != "/" {
		t.Fatalf("downstream proxy saw %+v", got)
	}
	if got[0].PeerCN != "pfs-relay" {
		t.Fatalf("downstream proxy saw certificate %q, want the relay's", got[0].PeerCN)
	}
	if len(core.requests()) != 0 {
		t.Fatal("a downstream call went to the core")
	}
	if a := send(t, clientWith(ca, nil), "GET", p.URL+"/proxy/pfs1/features", "", nil); a.status != http.StatusForbidden {
		t.Fatalf("downstream call without a certificate: %d", a.status)
	}
}

// With templates running on the same listener, /unattended is templates' (it adds
// url=<template_url>); the relay keeps ENC, facts and reports.
func TestTemplatesTakePrecedenceForUnattended(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	files := map[string]string{"templates.yml": ":enabled: true\n:template_url: http://pfs-proxy.test:8000\n"}
	pfs := ca.IssueLoopback(t, "pfs-proxy")
	global := fmt.Sprintf(":foreman_url: %s\n:foreman_ssl_cert: %s\n:foreman_ssl_key: %s\n", core.URL(), pfs.CertFile, pfs.KeyFile)
	files["relay.yml"] = relayYAML(t, ca, ca.IssueLoopback(t, "pfs-relay"), core.URL(), "")
	p := proxytest.StartHTTPS(t, ca, global, files, templates.New(), relay.New())
	c := clientWith(ca, nil)
	if a := send(t, c, "GET", p.URL+"/unattended/provision?token=t", "", nil); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if got := core.requests()[0].Target; !strings.Contains(got, "url=http%3A%2F%2Fpfs-proxy.test%3A8000") {
		t.Fatalf("templates did not serve /unattended: core saw %s", got)
	}
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	if a := send(t, clientWith(ca, &puppet), "GET", p.URL+"/node/web01.example.test", "", nil); a.status != 200 {
		t.Fatalf("ENC beside templates: %d %s", a.status, a.body)
	}
}

// A large report (past the server's default 1 MiB body limit) is queued and arrives
// byte for byte; a key the sender already has queued is acknowledged, not queued twice.
func TestLargeReportsAndCallerKeys(t *testing.T) {
	ca := testpki.NewCA(t, "zones-ca")
	core := newStandInCore(t, ca)
	core.setFail(http.StatusServiceUnavailable) // hold deliveries back for now
	p := startRelay(t, ca, core.URL(), "", nil)
	puppet := ca.IssueLoopback(t, "puppet.example.test")
	c := clientWith(ca, &puppet)

	big := `{"config_report":{"logs":"` + strings.Repeat("x", 5<<20) + `"}}`
	if a := send(t, c, "POST", p.URL+"/api/config_reports", big, nil); a.status != http.StatusCreated {
		t.Fatalf("5 MiB report: %d %.200s", a.status, a.body)
	}
	for i := 0; i < 2; i++ {
		a := send(t, c, "POST", p.URL+"/api/hosts/facts", `{"name":"web01"}`, map[string]string{relay.IdempotencyKeyHeader: "retry-1"})
		if a.status != http.StatusCreated || a.header.Get(relay.IdempotencyKeyHeader) != "retry-1" {
			t.Fatalf("keyed facts, send %d: %d %v", i, a.status, a.header)
		}
	}
	if m := send(t, c, "GET", p.URL+"/metrics", "", nil).body; !strings.Contains(m, "smartproxy_relay_queue_depth 2\n") {
		t.Fatalf("want the report and one facts upload queued:\n%s", m)
	}
	core.setFail(0)
	waitFor(t, "both delivered", func() bool { return len(core.storedRequests()) == 2 })
	got := core.storedRequests()
	if got[0].Body != big || got[1].Header.Get(relay.IdempotencyKeyHeader) != "retry-1" {
		t.Fatalf("delivered %d bytes then key %q", len(got[0].Body), got[1].Header.Get(relay.IdempotencyKeyHeader))
	}
}
