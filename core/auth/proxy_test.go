package auth

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// registered is the proxy table of these tests.
var registered = proxies{
	{ProxyHost{ID: 1, Name: "proxy1", Host: "proxy1.example.test"}, []string{"Puppet", "Logs"}},
	{ProxyHost{ID: 2, Name: "proxy2", Host: "proxy2.example.test"}, []string{"Logs"}},
	{ProxyHost{ID: 3, Name: "by-ip", Host: "192.0.2.10"}, []string{"Puppet"}},
	{ProxyHost{ID: 4, Name: "wild", Host: "a.wild.example.test"}, []string{"Puppet"}},
}

var trusted = []string{"puppet.example.test", "198.51.100.0/24", "203.0.113.5", "*.trusted.example.test"}

// startTLS serves g over real TLS asking for client certificates the way the
// core's listener must (VerifyClientCertIfGiven against the client CA).
func startTLS(t *testing.T, g *guarded, ca *testpki.CA, clientAuth tls.ClientAuthType) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(g.echo)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.IssueLoopback(t, "core.example.test").TLS},
		ClientCAs: ca.Pool, ClientAuth: clientAuth}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// tlsClient presents cert whatever CAs the server names (as curl --cert does; Go
// with Certificates alone would silently send none from a CA the server did not name).
func tlsClient(ca *testpki.CA, cert *testpki.Cert) *http.Client {
	conf := &tls.Config{RootCAs: ca.Pool}
	if cert != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
}

func TestProxyCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "Core client CA")
	cfg := Config{RestrictRegisteredProxies: true, TrustedHosts: trusted}
	g := newGuarded(newAuth(t, cfg, testUsers(t), registered).RequireProxyOrUser("Puppet"))
	server := startTLS(t, g, ca, tls.VerifyClientCertIfGiven)

	ip := func(s string) []net.IP { return []net.IP{net.ParseIP(s)} }
	for _, c := range []struct {
		name      string
		cert      *testpki.Spec
		basic     []string // login, password
		status    int
		wantProxy string
	}{
		{name: "SAN of a registered proxy", cert: &testpki.Spec{CN: "whatever", DNSNames: []string{"proxy1.example.test"}}, status: 200, wantProxy: "proxy1"},
		{name: "SAN upper-case", cert: &testpki.Spec{CN: "x", DNSNames: []string{"PROXY1.Example.TEST"}}, status: 200, wantProxy: "proxy1"},
		{name: "CN when there is no SAN", cert: &testpki.Spec{CN: "proxy1.example.test"}, status: 200, wantProxy: "proxy1"},
		{name: "CN ignored when SANs exist", cert: &testpki.Spec{CN: "proxy1.example.test", DNSNames: []string{"other.example.test"}}, status: 403},
		{name: "IP SAN of a proxy registered by IP", cert: &testpki.Spec{CN: "x", IPs: ip("192.0.2.10")}, status: 200, wantProxy: "by-ip"},
		{name: "wildcard certificate", cert: &testpki.Spec{CN: "x", DNSNames: []string{"*.wild.example.test"}}, status: 200, wantProxy: "wild"},
		{name: "wildcard certificate of another domain", cert: &testpki.Spec{CN: "x", DNSNames: []string{"*.example.test.evil"}}, status: 403},
		{name: "registered proxy without the feature", cert: &testpki.Spec{CN: "proxy2.example.test"}, status: 403},
		{name: "unregistered name", cert: &testpki.Spec{CN: "stranger.example.test", DNSNames: []string{"stranger.example.test"}}, status: 403},
		{name: "trusted host by name", cert: &testpki.Spec{CN: "puppet.example.test"}, status: 200},
		{name: "trusted host by CIDR", cert: &testpki.Spec{CN: "x", IPs: ip("198.51.100.7")}, status: 200},
		{name: "outside the trusted CIDR", cert: &testpki.Spec{CN: "x", IPs: ip("198.51.101.7")}, status: 403},
		{name: "trusted host by IP", cert: &testpki.Spec{CN: "x", IPs: ip("203.0.113.5")}, status: 200},
		{name: "trusted wildcard, two labels deep", cert: &testpki.Spec{CN: "x", DNSNames: []string{"a.b.trusted.example.test"}}, status: 200},
		{name: "trusted wildcard never matches the bare domain", cert: &testpki.Spec{CN: "trusted.example.test"}, status: 403},
		{name: "no certificate", status: 403},
		{name: "no certificate, a user's password", basic: []string{"admin", "changeme"}, status: 200},
		{name: "no certificate, a wrong password", basic: []string{"admin", "nope"}, status: 403},
		{name: "unregistered certificate, a user's password", cert: &testpki.Spec{CN: "stranger.example.test"}, basic: []string{"viewer", "viewer-pw"}, status: 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cert *testpki.Cert
			if c.cert != nil {
				issued := ca.Issue(t, *c.cert)
				cert = &issued
			}
			req := newRequest(t, "POST", server.URL+"/api/v2/hosts/facts", `{"name":"h"}`)
			if c.basic != nil {
				req.SetBasicAuth(c.basic[0], c.basic[1])
			}
			before := g.runs.Load()
			got := do(t, tlsClient(ca, cert), req)
			if got.status != c.status {
				t.Fatalf("got %d %s, want %d", got.status, got.body, c.status)
			}
			if c.status == 403 {
				if !strings.HasPrefix(got.body, `{"error":{"message":"Access denied","details":"`) {
					t.Errorf("403 body %s is not Foreman's access_denied", got.body)
				}
				if g.runs.Load() != before {
					t.Error("handler ran")
				}
				return
			}
			if c.wantProxy != "" && !strings.Contains(got.body, `"proxy":"`+c.wantProxy+`"`) {
				t.Errorf("body %s: want proxy %s detected", got.body, c.wantProxy)
			}
			if c.wantProxy == "" && strings.Contains(got.body, `"proxy"`) {
				t.Errorf("body %s: no proxy should be detected", got.body)
			}
			wantUser := "foreman_api_admin"
			if c.basic != nil {
				wantUser = c.basic[0]
			}
			if !strings.Contains(got.body, `"user":"`+wantUser+`"`) {
				t.Errorf("body %s: want user %s", got.body, wantUser)
			}
		})
	}
}

// A certificate from another CA fails the TLS handshake: the request never
// becomes HTTP, so the handler cannot run.
func TestCertificateFromAnotherCANeverReachesTheHandler(t *testing.T) {
	ca := testpki.NewCA(t, "Core client CA")
	other := testpki.NewCA(t, "Someone else's CA")
	g := newGuarded(newAuth(t, Config{RestrictRegisteredProxies: true}, testUsers(t), registered).RequireProxyOrUser("Puppet"))
	server := startTLS(t, g, ca, tls.VerifyClientCertIfGiven)
	forged := other.Issue(t, testpki.Spec{CN: "proxy1.example.test", DNSNames: []string{"proxy1.example.test"}})
	req := newRequest(t, "POST", server.URL+"/api/v2/hosts/facts", "{}")
	resp, err := tlsClient(ca, &forged).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request with another CA's certificate answered %s", resp.Status)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %v does not come from the certificate check", err)
	}
	if g.runs.Load() != 0 {
		t.Error("handler ran")
	}
}

// Should a listener ask for certificates without verifying them, an unverified
// certificate still names nobody.
func TestUnverifiedCertificateIsRefused(t *testing.T) {
	ca := testpki.NewCA(t, "Core client CA")
	other := testpki.NewCA(t, "Someone else's CA")
	g := newGuarded(newAuth(t, Config{RestrictRegisteredProxies: true}, testUsers(t), registered).RequireProxyOrUser("Puppet"))
	server := startTLS(t, g, ca, tls.RequestClientCert)
	forged := other.Issue(t, testpki.Spec{CN: "proxy1.example.test", DNSNames: []string{"proxy1.example.test"}})
	got := do(t, tlsClient(ca, &forged), newRequest(t, "POST", server.URL+"/api/v2/hosts/facts", "{}"))
	if got.status != 403 || g.runs.Load() != 0 {
		t.Errorf("got %d %s, runs %d; want 403 and no run", got.status, got.body, g.runs.Load())
	}
}

func TestRestrictOffLetsAnyoneThrough(t *testing.T) {
	g := newGuarded(newAuth(t, Config{RestrictRegisteredProxies: false}, testUsers(t), registered).RequireProxyOrUser("Puppet"))
	server := startHTTP(t, g)
	got := do(t, http.DefaultClient, newRequest(t, "GET", server.URL+"/node/h1?format=yml", ""))
	if got.status != 200 || !strings.Contains(got.body, `"user":"foreman_api_admin"`) {
		t.Errorf("got %d %s; want 200 as foreman_api_admin", got.status, got.body)
	}
}

// dnsServer answers PTR and A questions from zone over real UDP.
func dnsServer(t *testing.T, zone map[string]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		question := q.Question[0]
		if answer, ok := zone[question.Name]; ok {
			switch question.Qtype {
			case dns.TypePTR:
				m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: answer})
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(answer)})
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go server.ActivateAndServe()
	t.Cleanup(func() { server.Shutdown() })
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// Over plain HTTP a caller is its address (here given by a trusted relay in
// X-Forwarded-For) and the reverse-DNS names that resolve back to it.
func TestPlainHTTPCallerByAddressAndConfirmedReverseDNS(t *testing.T) {
	resolver := dnsServer(t, map[string]string{
		"50.2.0.192.in-addr.arpa.": "proxy1.example.test.",
		"proxy1.example.test.":     "192.0.2.50",
		"51.2.0.192.in-addr.arpa.": "proxy1.example.test.", // forward says .50: a lie
		"52.2.0.192.in-addr.arpa.": "stranger.example.test.",
		"stranger.example.test.":   "192.0.2.52",
	})
	cfg := Config{RestrictRegisteredProxies: true, TrustedProxies: []string{"127.0.0.1"}, TrustedHosts: []string{"192.0.2.60"}}
	a := newAuth(t, cfg, testUsers(t), registered)
	a.resolver = resolver
	g := newGuarded(a.RequireProxyOrUser("Puppet"))
	server := startHTTP(t, g)
	for _, c := range []struct {
		client    string
		status    int
		wantProxy string
	}{
		{"192.0.2.50", 200, "proxy1"},
		{"192.0.2.51", 403, ""},
		{"192.0.2.52", 403, ""},
		{"192.0.2.60", 200, ""},
		{"192.0.2.99", 403, ""},
	} {
		req := newRequest(t, "GET", server.URL+"/node/h1", "")
		req.Header.Set("X-Forwarded-For", c.client)
		got := do(t, http.DefaultClient, req)
		if got.status != c.status || c.wantProxy != "" && !strings.Contains(got.body, `"proxy":"`+c.wantProxy+`"`) {
			t.Errorf("%s: got %d %s; want %d proxy %q", c.client, got.status, got.body, c.status, c.wantProxy)
		}
	}
}

func TestHostPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"proxy.example.com", "proxy.example.com", true},
		{"Proxy.Example.com.", "proxy.example.com", true},
		{"proxy.example.com", "proxy.example.co", false},
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"2001:db8::1", "2001:DB8:0::1", true},
		{"[2001:db8::1]", "2001:db8::1", true},
		{"10.0.0.0/8", "10.1.2.3", true},
		{"10.0.0.0/8", "11.1.2.3", false},
		{"10.0.0.0/8", "ten.example.com", false},
		{"2001:db8::/32", "2001:db8:1::5", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "aexample.com", false},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "10.0.0.1", false},
		{"a.example.com", "*.example.com", true},
		{"a.b.example.com", "*.example.com", true},
		{"example.com", "*.example.com", false},
		{"a.example.org", "*.example.com", false},
	} {
		p, err := parseHostPattern(c.pattern)
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		if got := p.matches(c.name); got != c.want {
			t.Errorf("%s matches %s = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "a.*.example.com", "*.", "**.example.com", "*example.com"} {
		if _, err := parseHostPattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := New(Config{TrustedHosts: []string{"a.*.b"}}, users{}, proxies{}); err == nil {
		t.Error("New accepted a bad trusted_hosts entry")
	}
	if _, err := New(Config{TrustedProxies: []string{"relay.example.com"}}, users{}, proxies{}); err == nil {
		t.Error("New accepted a name in trusted_proxies")
	}
}
