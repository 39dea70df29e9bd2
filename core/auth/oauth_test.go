package auth

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dghubble/oauth1"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// The example of RFC 5849 §3.4.1.1, request and base string copied from the RFC:
// query with encoded "=" and "%", an empty value, a space as %20, a form body with
// "+", a duplicate name, realm left out.
func TestBaseStringIsTheRFC5849Example(t *testing.T) {
	raw := "POST /request?b5=%3D%253D&a3=a&c%40=&a2=r%20b HTTP/1.1\r\n" +
		"Host: example.com\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" +
		`Authorization: OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"` + "\r\n" +
		"Content-Length: 9\r\n\r\nc2&a3=2+q"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	oauth, err := parseOAuthHeader(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	v := &oauthVerifier{maxBody: 1024}
	params, _, err := v.signedParams(r, oauth)
	if err != nil {
		t.Fatal(err)
	}
	const want = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	scheme, host := receivedOrigin(r)
	if got := signatureBaseString(r, scheme, host, params); got != want {
		t.Errorf("base string\n got %s\nwant %s", got, want)
	}
	body, _ := io.ReadAll(r.Body)
	if string(body) != "c2&a3=2+q" {
		t.Errorf("body after verification = %q, want it restored", body)
	}
}

// The base string recorded from the installer (foreman-clients.md §3), checked
// byte for byte, then the whole request verified with a signature computed here
// over that literal string.
func TestRecordedInstallerRequestVerifies(t *testing.T) {
	const base = "GET&https%3A%2F%2F127.0.0.1%3A37213%2Fapi%2Fv2%2Fsmart_proxies&oauth_consumer_key%3Dkey-1%26oauth_nonce%3DvRj0sugmE9tpUEZSesrZhBiafGeHzYyqzL3mjrK0%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1796517675%26oauth_version%3D1.0%26search%3Dname%253D%2522proxy2.example.test%2522"
	mac := hmac.New(sha1.New, []byte(strings.ReplaceAll(url.QueryEscape(testSecret), "+", "%20")+"&"))
	mac.Write([]byte(base))
	signature := url.QueryEscape(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	raw := "GET /api/v2/smart_proxies?search=name%3D%22proxy2.example.test%22 HTTP/1.1\r\n" +
		"Host: 127.0.0.1:37213\r\nAccept: application/json\r\nContent-Type: application/json\r\nForeman_user: admin\r\n" +
		`Authorization: OAuth oauth_consumer_key="key-1", oauth_nonce="vRj0sugmE9tpUEZSesrZhBiafGeHzYyqzL3mjrK0", oauth_signature="` + signature + `", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1796517675", oauth_version="1.0"` + "\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	r.TLS = &tls.ConnectionState{} // it was recorded over https
	oauth, err := parseOAuthHeader(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	recorded := time.Unix(1796517675, 0)
	v := &oauthVerifier{consumerKey: testKey, consumerSecret: testSecret, window: time.Minute, maxBody: 1024,
		nonces: newNonceStore(time.Minute, 10), now: func() time.Time { return recorded }}
	params, _, err := v.signedParams(r, oauth)
	if err != nil {
		t.Fatal(err)
	}
	scheme, host := receivedOrigin(r)
	if got := signatureBaseString(r, scheme, host, params); got != base {
		t.Fatalf("base string\n got %s\nwant %s", got, base)
	}
	if err := v.verify(r); err != nil {
		t.Errorf("recorded request: %v", err)
	}
	if err := v.verify(r); err == nil {
		t.Error("the same request a second time verified; want the nonce refused")
	}
}

func TestBaseStringURI(t *testing.T) {
	for _, c := range []struct {
		host, requestURI string
		tls              bool
		want             string
	}{
		{"Example.COM:80", "/a/b", false, "http://example.com/a/b"},
		{"example.com:443", "/a", true, "https://example.com/a"},
		{"example.com:443", "/a", false, "http://example.com:443/a"},
		{"example.com:80", "/a", true, "https://example.com:80/a"},
		{"[::1]:443", "/x", true, "https://[::1]/x"},
		{"[::1]:8443", "/x", true, "https://[::1]:8443/x"},
		{"example.com", "/p%20q/r%2Fs?x=1", false, "http://example.com/p%20q/r%2Fs"},
		{"example.com", "/?x=1", false, "http://example.com/"},
	} {
		r := &http.Request{Host: c.host, RequestURI: c.requestURI}
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		scheme, host := receivedOrigin(r)
		if got := baseStringURI(r, scheme, host); got != c.want {
			t.Errorf("%s %s tls=%v: got %s, want %s", c.host, c.requestURI, c.tls, got, c.want)
		}
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"abcXYZ019-._~": "abcXYZ019-._~",
		"a b+c":         "a%20b%2Bc",
		`name="x"`:      "name%3D%22x%22",
		"ü/&%":          "%C3%BC%2F%26%25",
		"":              "",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// dghubbleClient signs as github.com/dghubble/oauth1 does: two-legged, empty token
// (it sends oauth_token=""), no body hash.
func dghubbleClient(secret string, signer oauth1.Signer, base http.RoundTripper) *http.Client {
	config := oauth1.NewConfig(testKey, secret)
	config.Signer = signer
	ctx := context.Background()
	if base != nil {
		ctx = context.WithValue(ctx, oauth1.HTTPClient, &http.Client{Transport: base})
	}
	return config.Client(ctx, oauth1.NewToken("", ""))
}

func TestRequestsSignedByDghubbleVerify(t *testing.T) {
	g := newGuarded(newAuth(t, oauthConfig(), testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	search := url.Values{"search": {`name="proxy one"`}}.Encode()
	for _, c := range []struct {
		name, method, path, body, contentType string
		signer                                oauth1.Signer
	}{
		{"GET with query", "GET", "/api/v2/smart_proxies?per_page=5&page=1", "", "", nil},
		{"query with spaces and quotes", "GET", "/api/v2/smart_proxies?" + search, "", "", nil},
		{"query with %20", "GET", "/api/v2/hosts?search=name%20%3D%20%22a%20b%22&x=2", "", "", nil},
		{"JSON POST", "POST", "/api/v2/smart_proxies", `{"smart_proxy":{"name":"p1","url":"https://p1:8443"}}`, "application/json", nil},
		{"empty-body PUT", "PUT", "/api/v2/smart_proxies/1/refresh", "", "application/json", nil},
		{"form POST (body fields signed)", "POST", "/api/v2/things", "a=1&b=two+words&c=%7E", "application/x-www-form-urlencoded", nil},
		{"HMAC-SHA256", "GET", "/api/v2/smart_proxies?search=x", "", "", &oauth1.HMAC256Signer{ConsumerSecret: testSecret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := newRequest(t, c.method, server.URL+c.path, c.body)
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			req.Header.Set("Foreman-User", "viewer")
			before := g.runs.Load()
			got := do(t, dghubbleClient(testSecret, c.signer, nil), req)
			if got.status != 200 || g.runs.Load() != before+1 {
				t.Fatalf("status %d %s, handler runs %d; want 200 and one run", got.status, got.body, g.runs.Load()-before)
			}
			var seen struct{ User, Body string }
			if err := json.Unmarshal([]byte(got.body), &seen); err != nil {
				t.Fatal(err)
			}
			if seen.User != "viewer" || seen.Body != c.body {
				t.Errorf("handler saw user %q body %q; want viewer and %q", seen.User, seen.Body, c.body)
			}
		})
	}
}

// Requests signed as the installer's oauth gem signs them, with oauth_body_hash.
func TestGemStyleRequestsWithBodyHashVerify(t *testing.T) {
	g := newGuarded(newAuth(t, oauthConfig(), testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	for i, c := range []struct {
		name, method, path, body, method2 string
	}{
		{"JSON POST", "POST", "/api/v2/smart_proxies", `{"smart_proxy":{"name":"proxy1.example.test","url":"https://proxy1.example.test:8443"}}`, "HMAC-SHA1"},
		{"empty-body PUT", "PUT", "/api/v2/smart_proxies/7/refresh", "", "HMAC-SHA1"},
		{"GET with spaces and quotes", "GET", "/api/v2/hosts?search=name%3D%22proxy+one%22", "", "HMAC-SHA1"},
		// dghubble signs only the first value of a repeated name; RFC 5849 signs all.
		{"GET with a repeated name", "GET", "/api/v2/hosts?x=2&x=1&x=10&y=%7E", "", "HMAC-SHA1"},
		{"JSON PUT with HMAC-SHA256", "PUT", "/api/v2/smart_proxies/7", `{"smart_proxy":{"url":"https://x:8443"}}`, "HMAC-SHA256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := newRequest(t, c.method, server.URL+c.path, c.body)
			req.Header.Set("Content-Type", "application/json")
			req.Header["foreman_user"] = []string{"admin"} // literally, as Net::HTTP sends it
			gemSign(req, []byte(c.body), testKey, testSecret, c.method2, time.Now().Unix(), fmt.Sprintf("nonce-%d", i), c.method != "GET")
			if c.body == "" && c.method == "PUT" && !strings.Contains(req.Header.Get("Authorization"), `oauth_body_hash="2jmj7l5rSw0yVb%2FvlWAYkK%2FYBwk%3D"`) {
				t.Fatalf("test signer: empty body hash is not the recorded one: %s", req.Header.Get("Authorization"))
			}
			got := do(t, http.DefaultClient, req)
			if got.status != 200 || !strings.Contains(got.body, `"user":"admin"`) {
				t.Fatalf("status %d %s; want 200 as admin", got.status, got.body)
			}
		})
	}
}

// tamper changes a request after it was signed, before it is sent.
type tamper func(*http.Request)

func (f tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

func TestForgedOrReplayedOAuthRequestsAre401AndNeverReachTheHandler(t *testing.T) {
	u := testUsers(t)
	now := time.Now().Unix()
	const body = `{"smart_proxy":{"name":"p1","url":"https://p1:8443"}}`
	for _, c := range []struct {
		name   string
		cfg    func(*Config)
		client *http.Client
		build  func(t *testing.T, base string) *http.Request
	}{
		{name: "wrong secret", client: dghubbleClient("not the secret", nil, nil),
			build: func(t *testing.T, base string) *http.Request { return newRequest(t, "GET", base+"/api/v2/hosts", "") }},
		{name: "changed query", client: dghubbleClient(testSecret, nil, tamper(func(r *http.Request) { r.URL.RawQuery = "search=name%3Devil" })),
			build: func(t *testing.T, base string) *http.Request {
				return newRequest(t, "GET", base+"/api/v2/hosts?search=name%3Dgood", "")
			}},
		{name: "changed path", client: dghubbleClient(testSecret, nil, tamper(func(r *http.Request) { r.URL.Path = "/api/v2/users" })),
			build: func(t *testing.T, base string) *http.Request { return newRequest(t, "GET", base+"/api/v2/hosts", "") }},
		{name: "changed method", client: dghubbleClient(testSecret, nil, tamper(func(r *http.Request) { r.Method = "DELETE" })),
			build: func(t *testing.T, base string) *http.Request { return newRequest(t, "GET", base+"/api/v2/hosts/1", "") }},
		{name: "changed body with body hash", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "POST", base+"/api/v2/smart_proxies", body)
			gemSign(req, []byte(body), testKey, testSecret, "HMAC-SHA1", now, "n-body", true)
			evil := strings.Replace(body, "p1", "p2", 1)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader(evil)), int64(len(evil))
			return req
		}},
		{name: "body added to a signed empty PUT", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "PUT", base+"/api/v2/smart_proxies/1/refresh", "")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now, "n-put", true)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader("{}")), 2
			return req
		}},
		{name: "changed form field", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "POST", base+"/api/v2/things", "a=1")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			gemSign(req, []byte("a=1"), testKey, testSecret, "HMAC-SHA1", now, "n-form", false)
			req.Body, req.ContentLength = io.NopCloser(strings.NewReader("a=2")), 3
			return req
		}},
		{name: "stale timestamp", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now-int64(DefaultReplayWindow/time.Second)-60, "n-old", false)
			return req
		}},
		{name: "timestamp from the future", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now+int64(DefaultReplayWindow/time.Second)+60, "n-new", false)
			return req
		}},
		{name: "wrong consumer key", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			gemSign(req, nil, "key-2", testSecret, "HMAC-SHA1", now, "n-key", false)
			return req
		}},
		{name: "oauth inactive", cfg: func(c *Config) { c.OAuthActive = false }, build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now, "n-inactive", false)
			return req
		}},
		{name: "PLAINTEXT", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			req.Header.Set("Authorization", fmt.Sprintf(`OAuth oauth_consumer_key="%s", oauth_nonce="n", oauth_signature="%s%%26", oauth_signature_method="PLAINTEXT", oauth_timestamp="%d", oauth_version="1.0"`,
				testKey, url.QueryEscape(testSecret), now))
			return req
		}},
		{name: "no nonce", client: dghubbleClient(testSecret, nil, tamper(func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, "oauth_nonce=")
			j := i + strings.Index(h[i:], ", ")
			r.Header.Set("Authorization", h[:i]+h[j+2:])
		})), build: func(t *testing.T, base string) *http.Request { return newRequest(t, "GET", base+"/api/v2/hosts", "") }},
		{name: "mapped user unknown", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			req.Header.Set("Foreman-User", "nobody")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now, "n-nobody", false)
			return req
		}},
		{name: "no user header while mapping", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			req.Header.Del("Foreman-User")
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now, "n-nouser", false)
			return req
		}},
		{name: "two different user headers", build: func(t *testing.T, base string) *http.Request {
			req := newRequest(t, "GET", base+"/api/v2/hosts", "")
			req.Header.Set("Foreman-User", "viewer")
			req.Header["foreman_user"] = []string{"admin"}
			gemSign(req, nil, testKey, testSecret, "HMAC-SHA1", now, "n-two", false)
			return req
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := oauthConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			g := newGuarded(newAuth(t, cfg, u, nil).RequireUser())
			server := startHTTP(t, g)
			req := c.build(t, server.URL)
			if req.Header.Get("Foreman-User") == "" && len(req.Header["foreman_user"]) == 0 && c.name != "no user header while mapping" {
				req.Header.Set("Foreman-User", "admin")
			}
			client := c.client
			if client == nil {
				client = http.DefaultClient
			}
			got := do(t, client, req)
			if got.status != 401 || got.body != `{"error":{"message":"Unable to authenticate user "}}`+"\n" {
				t.Errorf("got %d %q; want 401 with Foreman's message", got.status, got.body)
			}
			if n := g.runs.Load(); n != 0 {
				t.Errorf("handler ran %d times", n)
			}
		})
	}
}

// A request captured on the wire and sent again is refused; the first one passed.
func TestReplayedNonceIsRefused(t *testing.T) {
	g := newGuarded(newAuth(t, oauthConfig(), testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	var captured http.Header
	record := tamper(func(r *http.Request) { captured = r.Header.Clone() })
	req := newRequest(t, "DELETE", server.URL+"/api/v2/smart_proxies/3", "")
	req.Header.Set("Foreman-User", "admin")
	if got := do(t, dghubbleClient(testSecret, nil, record), req); got.status != 200 {
		t.Fatalf("first request: %d %s", got.status, got.body)
	}
	replay := newRequest(t, "DELETE", server.URL+"/api/v2/smart_proxies/3", "")
	replay.Header = captured
	if got := do(t, http.DefaultClient, replay); got.status != 401 {
		t.Errorf("replay: %d %s, want 401", got.status, got.body)
	}
	if n := g.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times, want once", n)
	}
}

func TestMappingOffRunsAsTheAPIAdmin(t *testing.T) {
	cfg := oauthConfig()
	cfg.OAuthMapUsers = false
	g := newGuarded(newAuth(t, cfg, testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	req := newRequest(t, "GET", server.URL+"/api/v2/hosts", "")
	req.Header.Set("Foreman-User", "nobody") // ignored without mapping
	got := do(t, dghubbleClient(testSecret, nil, nil), req)
	if got.status != 200 || !strings.Contains(got.body, `"user":"foreman_api_admin"`) {
		t.Errorf("got %d %s; want 200 as foreman_api_admin", got.status, got.body)
	}
}

func TestBodyTooLargeToVerifyIs413(t *testing.T) {
	cfg := oauthConfig()
	cfg.MaxSignedBody = 64
	g := newGuarded(newAuth(t, cfg, testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	body := strings.Repeat("x", 65)
	req := newRequest(t, "POST", server.URL+"/api/v2/hosts/facts", body)
	req.Header.Set("Foreman-User", "admin")
	gemSign(req, []byte(body), testKey, testSecret, "HMAC-SHA1", time.Now().Unix(), "n-big", true)
	if got := do(t, http.DefaultClient, req); got.status != 413 || g.runs.Load() != 0 {
		t.Errorf("got %d %s, runs %d; want 413 and no run", got.status, got.body, g.runs.Load())
	}
}

// Over real TLS the client signs https://…; the base string must say https too.
func TestOAuthOverTLSVerifies(t *testing.T) {
	ca := testpki.NewCA(t, "Core CA")
	g := newGuarded(newAuth(t, oauthConfig(), testUsers(t), nil).RequireUser())
	server := startTLS(t, g, ca, tls.VerifyClientCertIfGiven)
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	req := newRequest(t, "PUT", server.URL+"/api/v2/smart_proxies/1?search=name%3D%22a+b%22", `{"smart_proxy":{"url":"https://x:8443"}}`)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Foreman-User", "admin")
	if got := do(t, dghubbleClient(testSecret, nil, base), req); got.status != 200 {
		t.Errorf("got %d %s, want 200", got.status, got.body)
	}
	// The same signature presented over plain http (as behind a TLS terminator) fails.
	plain := startHTTP(t, g)
	signed := newRequest(t, "GET", strings.Replace(plain.URL, "http://", "https://", 1)+"/api/v2/hosts", "")
	signed.Header.Set("Foreman-User", "admin")
	gemSign(signed, nil, testKey, testSecret, "HMAC-SHA1", time.Now().Unix(), "n-terminated", false)
	asReceived := newRequest(t, "GET", plain.URL+"/api/v2/hosts", "")
	asReceived.Header = signed.Header
	if got := do(t, http.DefaultClient, asReceived); got.status != 401 {
		t.Errorf("https-signed request received over http: got %d, want 401", got.status)
	}
}
