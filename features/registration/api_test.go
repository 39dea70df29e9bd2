package registration_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/fakeforeman"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

const withURL = ":enabled: true\n:registration_url: https://proxy.example.com:8443/\n"

const failureScript = "echo \"Internal Server Error\"\nexit 1\n"

func TestGlobalRegisterRelaysQueryAndCredentials(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	script := "#!/bin/sh\necho registering\n"
	foreman.SetReply(fakeforeman.Reply{Status: http.StatusOK, ContentType: "text/plain", Body: script})
	p := startProxy(t, foreman.URL, "", withURL)

	got := send(t, p, http.MethodGet, "/register?organization_id=1&location_id=2&hostgroup_id=3&url=http://evil.test", "", "",
		map[string]string{"Authorization": "Bearer jwt.token.here", "X-Forwarded-For": "10.6.6.6"})

	if got.status != http.StatusOK || got.body != script || got.contentType != "text/plain" {
		t.Fatalf("proxy answered %d %q %q", got.status, got.contentType, got.body)
	}
	seen := foreman.Last(t)
	if seen.Method != http.MethodGet || seen.Path != "/register" {
		t.Errorf("Foreman got %s %s", seen.Method, seen.Path)
	}
	want := url.Values{"organization_id": {"1"}, "location_id": {"2"}, "hostgroup_id": {"3"}, "url": {"https://proxy.example.com:8443"}}
	if seen.Query.Encode() != want.Encode() {
		t.Errorf("Foreman got query %q, want %q", seen.RawQuery, want.Encode())
	}
	for k, v := range map[string]string{"Authorization": "Bearer jwt.token.here", "X-Forwarded-For": "127.0.0.1", "Content-Type": "application/json"} {
		if got := seen.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("Foreman got %s %q, want %q", k, got, v)
		}
	}
	if a := seen.Header.Get("Accept"); a != "application/json,version=2" {
		t.Errorf("Foreman got Accept %q", a)
	}
}

func TestURLFromRequestWhenUnset(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "", ":enabled: true\n")
	send(t, p, http.MethodGet, "/register?organization_id=1", "", "", nil)
	proxyBase := strings.TrimSuffix(p.URL, "/")
	if got := foreman.Last(t).Query.Get("url"); got != proxyBase {
		t.Errorf("url = %q, want the request's base %q", got, proxyBase)
	}
}

func TestHostRegisterForm(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	foreman.SetReply(fakeforeman.Reply{Status: http.StatusCreated, ContentType: "text/plain", Body: "# host script\n"})
	p := startProxy(t, foreman.URL, "", withURL)
	form := url.Values{"host[name]": {"web1.example.com"}, "host[build]": {"false"}, "packages[]": {"vim", "tmux"}}

	got := send(t, p, http.MethodPost, "/register?setup_insights=false", "application/x-www-form-urlencoded; charset=utf-8", form.Encode(),
		map[string]string{"Authorization": "Bearer jwt"})

	if got.status != http.StatusOK || got.body != "# host script\n" {
		t.Fatalf("Foreman's 201 became %d %q, want 200 with its body", got.status, got.body)
	}
	seen := foreman.Last(t)
	if seen.Method != http.MethodPost || seen.Path != "/register" {
		t.Errorf("Foreman got %s %s", seen.Method, seen.Path)
	}
	if seen.RawQuery != "url=https%3A%2F%2Fproxy.example.com%3A8443" {
		t.Errorf("Foreman got query %q, want only url", seen.RawQuery)
	}
	if ct := seen.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("Foreman got Content-Type %q, want the host's", ct)
	}
	body, err := url.ParseQuery(seen.Body)
	if err != nil || body.Encode() != form.Encode() {
		t.Errorf("Foreman got body %q, want the pairs of %q", seen.Body, form.Encode())
	}
	if seen.Header.Get("Authorization") != "Bearer jwt" {
		t.Errorf("Authorization not relayed: %q", seen.Header.Get("Authorization"))
	}
}

func TestHostRegisterJSON(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "", withURL)
	body := `{"host":{"name":"web1.example.com","interfaces_attributes":[{"mac":"aa:bb:cc:dd:ee:ff"}]}}`

	got := send(t, p, http.MethodPost, "/register?setup_insights=false", "application/json", body, nil)

	if got.status != http.StatusOK {
		t.Fatalf("proxy answered %d %q", got.status, got.body)
	}
	seen := foreman.Last(t)
	if seen.Body != body {
		t.Errorf("Foreman got body %q, want %q byte for byte", seen.Body, body)
	}
	want := url.Values{"setup_insights": {"false"}, "url": {"https://proxy.example.com:8443"}}
	if seen.Query.Encode() != want.Encode() {
		t.Errorf("Foreman got query %q, want %q", seen.RawQuery, want.Encode())
	}
	if ct := seen.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Foreman got Content-Type %q", ct)
	}
}

func TestFailuresAnswerAShellSnippetOrForemansText(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "", withURL)
	cases := []struct {
		reply    fakeforeman.Reply
		want     int
		wantBody string
	}{
		{fakeforeman.Reply{Status: 204}, 200, ""},
		{fakeforeman.Reply{Status: 401, ContentType: "text/plain; charset=utf-8", Body: "echo \"ERROR: unauthorized\"\nexit 1\n"}, 401, "echo \"ERROR: unauthorized\"\nexit 1\n"},
		{fakeforeman.Reply{Status: 404, ContentType: "text/plain", Body: "echo 'Host group not found'; exit 1"}, 404, "echo 'Host group not found'; exit 1"},
		{fakeforeman.Reply{Status: 422, ContentType: "application/json", Body: `{"error":"Validation failed"}`}, 422, failureScript},
		{fakeforeman.Reply{Status: 500, ContentType: "text/html", Body: "<html>boom</html>"}, 500, failureScript},
		{fakeforeman.Reply{Status: 302, ContentType: "text/html", Body: "moved"}, 302, failureScript},
	}
	for _, tc := range cases {
		foreman.SetReply(tc.reply)
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			got := send(t, p, method, "/register", "application/json", "{}", nil)
			if got.status != tc.want || got.body != tc.wantBody {
				t.Errorf("%s with Foreman %d %s: got %d %q, want %d %q", method, tc.reply.Status, tc.reply.ContentType, got.status, got.body, tc.want, tc.wantBody)
			}
		}
	}
}

func TestForemanDown(t *testing.T) {
	p := startProxy(t, fakeforeman.ClosedURL(t), "", withURL)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		got := send(t, p, method, "/register", "application/x-www-form-urlencoded", "host[name]=a", nil)
		if got.status != http.StatusInternalServerError || got.body != failureScript {
			t.Errorf("%s with Foreman down: %d %q, want 500 and the failure script", method, got.status, got.body)
		}
	}
}

// Registration and templates reach Foreman over TLS with the proxy's certificate, on
// one shared pool of kept-alive connections.
func TestTLSAndSharedConnectionsWithTemplates(t *testing.T) {
	ca := testpki.NewCA(t, "foreman-ca")
	proxyCert := ca.IssueLoopback(t, "proxy.example.com")
	foreman := fakeforeman.Start(t, fakeforeman.Options{CA: ca, RequireClientCert: true})
	tlsFiles := ":ssl_ca_file: " + ca.CAFile + "\n:ssl_certificate: " + proxyCert.CertFile + "\n:ssl_private_key: " + proxyCert.KeyFile + "\n"
	p := startProxy(t, foreman.URL, tlsFiles, withURL)

	if got := send(t, p, http.MethodGet, "/unattended/provision?token=t", "", "", nil); got.status != http.StatusOK {
		t.Fatalf("template: %d %q", got.status, got.body)
	}
	if got := send(t, p, http.MethodGet, "/register?organization_id=1", "", "", nil); got.status != http.StatusOK {
		t.Fatalf("register: %d %q", got.status, got.body)
	}
	reqs := foreman.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/unattended/provision" || reqs[1].Path != "/register" {
		t.Fatalf("Foreman got %+v", reqs)
	}
	for _, r := range reqs {
		if r.ClientCN != "proxy.example.com" {
			t.Errorf("%s came with client certificate %q", r.Path, r.ClientCN)
		}
	}
	if c := foreman.Connections(); c != 1 {
		t.Errorf("templates and registration opened %d connections to Foreman, want 1 shared", c)
	}
}
