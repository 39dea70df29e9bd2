package main

// smart-proxy register against a fake Foreman over real TLS that checks every request
// as Foreman would: the OAuth 1.0 signature (verified here independently of the
// signing library), the installer's headers and bodies.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

const (
	testKey    = "key-1"
	testSecret = "s3cret&with+odd chars"
)

// fakeForeman keeps smart proxies in memory and answers the installer's calls.
type fakeForeman struct {
	t        *testing.T
	mu       sync.Mutex
	proxies  map[int64]*fakeProxy
	nextID   int64
	features []string // what discovery "finds" on any proxy
	log      []string // "METHOD path?query body"
	fail     map[string]fakeAnswer
	srv      *httptest.Server
}

type fakeProxy struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

type fakeAnswer struct {
	status int
	body   string
}

func newFakeForeman(t *testing.T, ca *testpki.CA, features ...string) *fakeForeman {
	f := &fakeForeman{t: t, proxies: map[int64]*fakeProxy{}, nextID: 1, features: features, fail: map[string]fakeAnswer{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	cert := ca.IssueLoopback(t, "foreman.example.test")
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeForeman) show(p *fakeProxy) map[string]any {
	var feats []map[string]any
	for i, n := range f.features {
		feats = append(feats, map[string]any{"capabilities": []string{}, "name": n, "id": i + 1})
	}
	return map[string]any{"id": p.ID, "name": p.Name, "url": p.URL, "features": feats}
}

func (f *fakeForeman) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.log = append(f.log, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if err := verifyOAuth(r, testKey, testSecret); err != nil {
		f.t.Logf("OAuth refused: %v", err)
		reply(401, map[string]any{"error": map[string]any{"message": "Unable to authenticate user "}})
		return
	}
	if r.Header.Get("Accept") != "application/json" || r.Header.Get("Content-Type") != "application/json" ||
		r.Header["Foreman_user"] == nil || r.Header.Get("Foreman_user") != "admin" {
		f.t.Errorf("headers of %s %s: %v", r.Method, r.URL, r.Header)
	}
	if a, ok := f.fail[r.Method+" "+r.URL.Path]; ok {
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v2/smart_proxies"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v2/smart_proxies":
		results := []any{}
		for _, p := range f.proxies {
			if r.URL.Query().Get("search") == `name="`+p.Name+`"` {
				results = append(results, f.show(p))
			}
		}
		reply(200, map[string]any{"total": len(f.proxies), "subtotal": len(results), "page": 1, "per_page": 20,
			"search": r.URL.Query().Get("search"), "results": results})
	case r.Method == "POST" && r.URL.Path == "/api/v2/smart_proxies":
		var in struct {
			SmartProxy fakeProxy `json:"smart_proxy"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			reply(400, map[string]any{"error": err.Error()})
			return
		}
		p := &fakeProxy{ID: f.nextID, Name: in.SmartProxy.Name, URL: in.SmartProxy.URL}
		f.nextID++
		f.proxies[p.ID] = p
		reply(201, f.show(p))
	case r.Method == "PUT" && len(parts) == 2:
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		var in struct {
			SmartProxy fakeProxy `json:"smart_proxy"`
		}
		json.Unmarshal(body, &in)
		f.proxies[id].URL = in.SmartProxy.URL
		reply(200, f.show(f.proxies[id]))
	case r.Method == "PUT" && len(parts) == 3 && parts[2] == "refresh":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		if len(body) != 0 || r.ContentLength != 0 {
			f.t.Errorf("refresh with a body: %q", body)
		}
		reply(200, f.show(f.proxies[id]))
	default:
		reply(404, map[string]any{"error": "not found"})
	}
}

func (f *fakeForeman) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.log
	f.log = nil
	return out
}

// verifyOAuth checks a two-legged HMAC-SHA1 signature per RFC 5849 §3.4, written
// from the RFC rather than from the client library.
func verifyOAuth(r *http.Request, key, secret string) error {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "OAuth ") {
		return fmt.Errorf("no OAuth header: %q", h)
	}
	params := map[string][]string{}
	oauth := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(h, "OAuth "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("bad header part %q", part)
		}
		k, _ = url.PathUnescape(k)
		v, _ = url.PathUnescape(strings.Trim(v, `"`))
		oauth[k] = v
		if k != "oauth_signature" && k != "realm" {
			params[k] = append(params[k], v)
		}
	}
	if oauth["oauth_consumer_key"] != key || oauth["oauth_signature_method"] != "HMAC-SHA1" {
		return fmt.Errorf("consumer key %q, method %q", oauth["oauth_consumer_key"], oauth["oauth_signature_method"])
	}
	for k, vs := range r.URL.Query() {
		params[k] = append(params[k], vs...)
	}
	var pairs []string
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, rfc3986(k)+"="+rfc3986(v))
		}
	}
	sort.Strings(pairs)
	base := r.Method + "&" + rfc3986("https://"+strings.ToLower(r.Host)+r.URL.EscapedPath()) + "&" + rfc3986(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(rfc3986(secret)+"&"))
	mac.Write([]byte(base))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(oauth["oauth_signature"])) {
		return fmt.Errorf("signature %q does not verify (base string %s)", oauth["oauth_signature"], base)
	}
	return nil
}

// rfc3986 percent-encodes everything but the unreserved characters.
func rfc3986(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func runRegister(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"register"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRegisterCreatesUpdatesAndRefreshes(t *testing.T) {
	ca := testpki.NewCA(t, "Foreman CA")
	f := newFakeForeman(t, ca, "Logs", "TFTP")
	args := []string{"--foreman-url", f.srv.URL, "--oauth-consumer-key", testKey, "--oauth-consumer-secret", testSecret,
		"--ssl-ca", ca.CAFile, "--name", "proxy1.example.test", "--features", "Logs, TFTP"}

	code, out, errOut := runRegister(t, append(args, "--url", "https://proxy1.example.test:8443/")...)
	if code != 0 {
		t.Fatalf("first run: exit %d: %s%s", code, out, errOut)
	}
	want := []string{
		`GET /api/v2/smart_proxies?search=name%3D%22proxy1.example.test%22`,
		`POST /api/v2/smart_proxies {"smart_proxy":{"name":"proxy1.example.test","url":"https://proxy1.example.test:8443"}}`,
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Fatalf("first run sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if out != "Created smart proxy proxy1.example.test (id 1) at https://proxy1.example.test:8443 with features: Logs, TFTP\n" {
		t.Fatalf("output %q", out)
	}

	code, out, errOut = runRegister(t, append(args, "--url", "https://proxy1.example.test:9443")...)
	if code != 0 {
		t.Fatalf("second run: exit %d: %s%s", code, out, errOut)
	}
	want = []string{
		`GET /api/v2/smart_proxies?search=name%3D%22proxy1.example.test%22`,
		`PUT /api/v2/smart_proxies/1 {"smart_proxy":{"url":"https://proxy1.example.test:9443"}}`,
		`PUT /api/v2/smart_proxies/1/refresh`,
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Fatalf("second run sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out, "Updated the URL of smart proxy proxy1.example.test (id 1) from https://proxy1.example.test:8443 to https://proxy1.example.test:9443") {
		t.Fatalf("output %q", out)
	}

	// In sync: search and refresh only.
	if code, out, errOut = runRegister(t, append(args, "--url", "https://proxy1.example.test:9443")...); code != 0 {
		t.Fatalf("third run: exit %d: %s%s", code, out, errOut)
	}
	if got := f.requests(); len(got) != 2 || !strings.HasPrefix(got[1], "PUT /api/v2/smart_proxies/1/refresh") {
		t.Fatalf("third run sent %q", got)
	}
}

func TestRegisterReportsMissingFeatures(t *testing.T) {
	ca := testpki.NewCA(t, "Foreman CA")
	f := newFakeForeman(t, ca, "Logs", "TFTP")
	dir := t.TempDir()
	settingsFile := filepath.Join(dir, "settings.yml")
	os.WriteFile(settingsFile, []byte(":settings_directory: "+dir+"\n:log_file: /var/log/smart-proxy/proxy.log\n:http_port: 8000\n"), 0o644)
	code, _, errOut := runRegister(t, "--foreman-url", f.srv.URL, "--oauth-consumer-key", testKey, "--oauth-consumer-secret", testSecret,
		"--ssl-ca", ca.CAFile, "--name", "proxy1.example.test", "--url", "https://proxy1.example.test:8443",
		"--features", "logs,DNS,TFTP,puppetca", "--settings", settingsFile)
	want := "Proxy proxy1.example.test has failed to load one or more features (DNS, Puppet CA), check /var/log/smart-proxy/proxy.log for configuration errors\n"
	if code != 1 || errOut != want {
		t.Fatalf("exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// With --settings and no --features, the expected features are those the settings
// enable; the URL comes from the listeners; foreman_url and the CA from the settings.
func TestRegisterDefaultsFromSettings(t *testing.T) {
	ca := testpki.NewCA(t, "Foreman CA")
	f := newFakeForeman(t, ca, "Logs")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "settings.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "settings.d", "tftp.yml"), []byte(":enabled: true\n:tftproot: "+dir+"\n:listen: bad\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "settings.d", "dns.yml"), []byte(":enabled: false\n"), 0o644)
	settingsFile := filepath.Join(dir, "settings.yml")
	os.WriteFile(settingsFile, []byte(fmt.Sprintf(":settings_directory: settings.d\n:log_file: STDOUT\n:http_port: 8123\n"+
		":foreman_url: %s\n:foreman_ssl_ca: %s\n", f.srv.URL, ca.CAFile)), 0o644)
	code, _, errOut := runRegister(t, "--oauth-consumer-key", testKey, "--oauth-consumer-secret", testSecret,
		"--name", "proxy2.example.test", "--settings", settingsFile)
	want := "Proxy proxy2.example.test has failed to load one or more features (TFTP), check the proxy's standard output for configuration errors\n"
	if code != 1 || errOut != want {
		t.Fatalf("exit %d, stderr %q, want %q", code, errOut, want)
	}
	got := f.requests()
	if len(got) != 2 || !strings.HasSuffix(got[1], `"url":"http://`+hostFQDN()+`:8123"}}`) {
		t.Fatalf("sent %q", got)
	}
}

func TestRegisterForemanErrors(t *testing.T) {
	ca := testpki.NewCA(t, "Foreman CA")
	f := newFakeForeman(t, ca, "Logs")
	host := "127.0.0.1"
	args := func(secret string) []string {
		return []string{"--foreman-url", f.srv.URL + "/", "--oauth-consumer-key", testKey, "--oauth-consumer-secret", secret,
			"--ssl-ca", ca.CAFile, "--name", "proxy1.example.test", "--url", "https://proxy1.example.test:8443", "--features", "Logs"}
	}

	code, _, errOut := runRegister(t, args("wrong")...)
	want := "Error making GET request to Foreman at " + f.srv.URL + "/api/v2/smart_proxies: Response: 401 Unauthorized: " +
		"Often this is caused by invalid Oauth credentials sent to Foreman at " + host + "\n"
	if code != 1 || errOut != want {
		t.Fatalf("wrong secret: exit %d, stderr %q, want %q", code, errOut, want)
	}

	f.fail["POST /api/v2/smart_proxies"] = fakeAnswer{422, `{"error":{"id":null,"errors":{"base":["Unable to communicate with the proxy: x","Please check the proxy is configured and running on the host."]},` +
		`"full_messages":["Unable to communicate with the proxy: x","Please check the proxy is configured and running on the host."]}}`}
	code, _, errOut = runRegister(t, args(testSecret)...)
	want = "Error making POST request to Foreman at " + f.srv.URL + "/api/v2/smart_proxies: Unable to communicate with the proxy: x " +
		"Please check the proxy is configured and running on the host.\n"
	if code != 1 || errOut != want {
		t.Fatalf("422: exit %d, stderr %q, want %q", code, errOut, want)
	}

	f.fail["POST /api/v2/smart_proxies"] = fakeAnswer{503, "down"}
	code, _, errOut = runRegister(t, args(testSecret)...)
	if code != 1 || !strings.HasSuffix(errOut, "Response: 503 Service Unavailable: The webserver was unable to reach the backend service. Is Foreman running at "+host+"?\n") {
		t.Fatalf("503: exit %d, stderr %q", code, errOut)
	}

	// Foreman's certificate must be signed by --ssl-ca.
	other := testpki.NewCA(t, "Other CA")
	a := args(testSecret)
	a[7] = other.CAFile
	code, _, errOut = runRegister(t, a...)
	if code != 1 || !strings.Contains(errOut, "GET request to "+f.srv.URL+"/api/v2/smart_proxies?search=name%3D%22proxy1.example.test%22 failed: tls: failed to verify certificate") {
		t.Fatalf("unknown CA: exit %d, stderr %q", code, errOut)
	}
}

func TestRegisterUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--oauth-consumer-key", "k", "--oauth-consumer-secret", "s"}, "--foreman-url is required"},
		{[]string{"--foreman-url", "https://f.example.test"}, "--oauth-consumer-key and --oauth-consumer-secret are required"},
		{[]string{"--foreman-url", "f.example.test", "--oauth-consumer-key", "k", "--oauth-consumer-secret", "s"}, "must be an http:// or https:// URL"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Setenv("FOREMAN_OAUTH_CONSUMER_SECRET", "")
		code, _, errOut := runRegister(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// A request that times out is sent again, up to 5 times, as the installer does.
func TestRegisterRetriesTimeouts(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 2 {
			<-r.Context().Done() // never answers: the client gives up
			return
		}
		if r.Method == "GET" {
			io.WriteString(w, `{"results":[{"id":7,"url":"http://p.example.test:8000","features":[{"name":"Logs"}]}]}`)
			return
		}
		io.WriteString(w, `{"id":7,"features":[{"name":"Logs"}]}`)
	}))
	defer srv.Close()
	code, out, errOut := runRegister(t, "--foreman-url", srv.URL, "--oauth-consumer-key", "k", "--oauth-consumer-secret", "s",
		"--name", "p.example.test", "--url", "http://p.example.test:8000", "--features", "Logs", "--timeout", "200ms")
	if code != 0 || strings.Count(errOut, "Timeout calling API at "+srv.URL+"/api/v2/smart_proxies?search=") != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if calls != 4 { // search twice timed out, then search and refresh
		t.Fatalf("%d calls", calls)
	}
}

// A refresh answer without features (Foreman before #19476) is followed by a search;
// unrecognized_features in an answer are a warning, as in the installer.
func TestRegisterRefreshAnswers(t *testing.T) {
	ca := testpki.NewCA(t, "Foreman CA")
	f := newFakeForeman(t, ca, "Logs")
	args := []string{"--foreman-url", f.srv.URL, "--oauth-consumer-key", testKey, "--oauth-consumer-secret", testSecret,
		"--ssl-ca", ca.CAFile, "--name", "p.example.test", "--url", "https://p.example.test:8443", "--features", "Logs"}
	if code, out, errOut := runRegister(t, args...); code != 0 {
		t.Fatalf("create: exit %d %s%s", code, out, errOut)
	}
	f.requests()

	f.fail["PUT /api/v2/smart_proxies/1/refresh"] = fakeAnswer{200, `{"id":1}`}
	if code, out, errOut := runRegister(t, args...); code != 0 {
		t.Fatalf("old refresh answer: exit %d %s%s", code, out, errOut)
	}
	if got := f.requests(); len(got) != 3 || !strings.HasPrefix(got[2], "GET /api/v2/smart_proxies?search=") {
		t.Fatalf("sent %q", got)
	}

	f.fail["PUT /api/v2/smart_proxies/1/refresh"] = fakeAnswer{200, `{"id":1,"features":[{"name":"Logs"}],"unrecognized_features":["openstack","salt"]}`}
	code, _, errOut := runRegister(t, args...)
	want := "Warning: Proxy p.example.test has features not recognized by Foreman: openstack, salt. If these features come from a Smart Proxy plugin, make sure Foreman has the plugin installed too.\n"
	if code != 0 || errOut != want {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
