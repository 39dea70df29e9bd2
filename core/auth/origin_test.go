package auth

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

func TestOrigin(t *testing.T) {
	a := newAuth(t, Config{TrustedProxies: []string{"10.0.0.1", "2001:db8::/32"}}, users{}, proxies{})
	for _, c := range []struct {
		name, peer, host string
		tls              bool
		headers          map[string]string
		want             string
	}{
		{"direct http", "192.0.2.7:5000", "core:3000", false, nil, "http://core:3000"},
		{"direct https", "192.0.2.7:5000", "core", true, nil, "https://core"},
		{"untrusted peer's headers ignored", "192.0.2.7:5000", "core:3000", false,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "foreman.example", "X-Forwarded-Port": "443"}, "http://core:3000"},
		{"trusted terminator", "10.0.0.1:5000", "127.0.0.1:3000", false,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "foreman.example"}, "https://foreman.example"},
		{"forwarded port", "10.0.0.1:5000", "127.0.0.1:3000", false,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "foreman.example", "X-Forwarded-Port": "8443"}, "https://foreman.example:8443"},
		{"port in the host wins", "10.0.0.1:5000", "127.0.0.1:3000", false,
			map[string]string{"X-Forwarded-Host": "foreman.example:444", "X-Forwarded-Port": "8443"}, "http://foreman.example:444"},
		{"last value of a chain", "10.0.0.1:5000", "c", false,
			map[string]string{"X-Forwarded-Proto": "http, HTTPS", "X-Forwarded-Host": "evil.example, foreman.example"}, "https://foreman.example"},
		{"proto other than http(s) ignored", "10.0.0.1:5000", "c:1", false,
			map[string]string{"X-Forwarded-Proto": "javascript"}, "http://c:1"},
		{"host with a path ignored", "10.0.0.1:5000", "c:1", false,
			map[string]string{"X-Forwarded-Host": "evil.example/x?"}, "http://c:1"},
		{"host with user info ignored", "10.0.0.1:5000", "c:1", false,
			map[string]string{"X-Forwarded-Host": "a@evil.example"}, "http://c:1"},
		{"bad port ignored", "10.0.0.1:5000", "c", false,
			map[string]string{"X-Forwarded-Port": "99999"}, "http://c"},
		{"IPv6 terminator and host", "[2001:db8::5]:443", "c", false,
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "[2001:db8::10]:8443"}, "https://[2001:db8::10]:8443"},
	} {
		r := &http.Request{RemoteAddr: c.peer, Host: c.host, Header: http.Header{}}
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		if got := a.OriginURL(r); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// A real TLS-terminating reverse proxy (as nginx with proxy_set_header
// X-Forwarded-Proto/-Host) in front of the core on plain http: the client signs
// https://foreman.example.test:PORT/…. The core believes the forwarded headers from
// the terminator's address (127.0.0.1, trusted) and from nobody else: the same
// headers sent straight to the core from 127.0.0.2 change nothing.
func TestOAuthBehindTLSTerminator(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		want    int
	}{
		{"terminator trusted", []string{"127.0.0.1"}, 200},
		{"terminator not trusted", []string{"10.9.9.9"}, 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := oauthConfig()
			cfg.TrustedProxies = c.trusted
			g := newGuarded(newAuth(t, cfg, testUsers(t), nil).RequireUser())
			core := startHTTP(t, g)
			terminator, client := startTerminator(t, core.URL)
			front := "https://foreman.example.test:" + terminator.port

			for i, path := range []string{"/api/v2/smart_proxies?search=name%3D%22a+b%22", "/api/v2/hosts"} {
				req := newRequest(t, "GET", front+path, "")
				req.Header.Set("Foreman-User", "admin")
				gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", time.Now().Unix(), "n-term-"+c.name+string(rune('0'+i)), false)
				if got := do(t, client, req); got.status != c.want {
					t.Errorf("%s through the terminator: got %d %s, want %d", path, got.status, got.body, c.want)
				}
			}
			// dghubble signs the same way (POST with a JSON body).
			req := newRequest(t, "POST", front+"/api/v2/smart_proxies", `{"smart_proxy":{"name":"p"}}`)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Foreman-User", "admin")
			if got := do(t, dghubbleClient(testSecret, nil, client.Transport), req); got.status != c.want {
				t.Errorf("dghubble POST through the terminator: got %d %s, want %d", got.status, got.body, c.want)
			}

			// Straight to the core from an address that is not a trusted proxy, with the
			// headers the terminator would add: a signature for the front URL fails.
			before := g.runs.Load()
			forged := newRequest(t, "GET", front+"/api/v2/hosts", "")
			forged.Header.Set("Foreman-User", "admin")
			gemSign(forged, nil, testKey, testSecret, "HMAC-SHA1", time.Now().Unix(), "n-forged-"+c.name, false)
			direct := newRequest(t, "GET", core.URL+"/api/v2/hosts", "")
			direct.Header = forged.Header
			direct.Header.Set("X-Forwarded-Proto", "https")
			direct.Header.Set("X-Forwarded-Host", "foreman.example.test:"+terminator.port)
			if got := do(t, clientFrom(t, "127.0.0.2"), direct); got.status != 401 || g.runs.Load() != before {
				t.Errorf("forged X-Forwarded-* from 127.0.0.2: got %d %s, runs %d; want 401 and no run", got.status, got.body, g.runs.Load()-before)
			}
		})
	}
}

type terminator struct{ port string }

// startTerminator runs an https reverse proxy to backend that sets X-Forwarded-For,
// -Host and -Proto as nginx does, and a client that reaches it as
// foreman.example.test (a name in its certificate) on 127.0.0.1.
func startTerminator(t *testing.T, backend string) (terminator, *http.Client) {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}}
	ca := testpki.NewCA(t, "Terminator CA")
	s := httptest.NewUnstartedServer(proxy)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.IssueLoopback(t, "foreman.example.test").TLS}}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, "foreman.example.test:") {
				addr = "127.0.0.1:" + port
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	return terminator{port}, &http.Client{Transport: transport}
}

// clientFrom is a client whose connections leave from the loopback address from.
func clientFrom(t *testing.T, from string) *http.Client {
	t.Helper()
	transport := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}).DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport}
}
