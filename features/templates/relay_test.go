package templates_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/fakeforeman"
)

func TestGetRelaysParamsHeadersAndClientAddress(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	foreman.SetReply(fakeforeman.Reply{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: "#kickstart\ninstall\n"})
	p := startProxy(t, foreman.URL, "")

	got := hostRequest{
		path: "/unattended/provision?token=abc-123&static=yes&url=http://evil.test&kind=x&splat=y&captures=z&path=p&hostgroup=h",
		header: map[string]string{
			"X-RHN-Provisioning-MAC-0": "eth0 aa:bb:cc:dd:ee:ff",
			"X-Forwarded-For":          "10.6.6.6", // a host must not choose the address Foreman sees
			"X-Real-IP":                "10.6.6.6",
			"User-Agent":               "anaconda/38",
			"Accept":                   "*/*",
		},
		from: "127.0.0.2",
	}.send(t, p)

	if got.status != http.StatusOK || got.body != "#kickstart\ninstall\n" {
		t.Fatalf("proxy answered %d %q", got.status, got.body)
	}
	if got.contentType != "text/plain; charset=utf-8" {
		t.Errorf("content type %q, want Foreman's", got.contentType)
	}
	seen := foreman.Last(t)
	if seen.Method != http.MethodGet || seen.Path != "/unattended/provision" {
		t.Errorf("Foreman got %s %s", seen.Method, seen.Path)
	}
	wantQuery := url.Values{"token": {"abc-123"}, "static": {"yes"}, "url": {templateURL}}
	if seen.Query.Encode() != wantQuery.Encode() {
		t.Errorf("Foreman got query %q, want %q", seen.RawQuery, wantQuery.Encode())
	}
	wantHeaders := map[string]string{
		"X-Rhn-Provisioning-Mac-0": "eth0 aa:bb:cc:dd:ee:ff",
		"X-Forwarded-For":          "127.0.0.2",
		"User-Agent":               "anaconda/38",
		"Content-Type":             "application/json",
	}
	for k, want := range wantHeaders {
		if v := seen.Header.Values(k); len(v) != 1 || v[0] != want {
			t.Errorf("Foreman got %s %q, want %q", k, v, want)
		}
	}
	if a := seen.Header.Values("Accept"); len(a) != 2 || a[0] != "application/json,version=2" || a[1] != "*/*" {
		t.Errorf("Foreman got Accept %q", a)
	}
	if v := seen.Header.Get("X-Real-Ip"); v != "" {
		t.Errorf("X-Real-IP %q was relayed", v)
	}
}

func TestPostRelaysBodyAsText(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	foreman.SetReply(fakeforeman.Reply{Status: http.StatusCreated, ContentType: "text/plain", Body: "Built"})
	p := startProxy(t, foreman.URL, "")
	log := "Traceback (most recent call last):\n  anaconda failed & stopped = 100%\n"

	got := hostRequest{method: http.MethodPost, path: "/unattended/failed?token=t1", body: log,
		header: map[string]string{"Content-Type": "text/plain"}}.send(t, p)

	if got.status != http.StatusOK || got.body != "Built" {
		t.Fatalf("Foreman's 201 became %d %q, want 200 Built", got.status, got.body)
	}
	seen := foreman.Last(t)
	if seen.Method != http.MethodPost || seen.Path != "/unattended/failed" || seen.Body != log {
		t.Errorf("Foreman got %s %s body %q", seen.Method, seen.Path, seen.Body)
	}
	if ct := seen.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Foreman got Content-Type %q, want text/plain", ct)
	}
	if seen.Query.Get("token") != "t1" || seen.Query.Get("url") != templateURL {
		t.Errorf("Foreman got query %q", seen.RawQuery)
	}
}

// curl --data sends a form; the server parses it before the handler, yet its pairs
// must still reach Foreman, in the body and (as Sinatra params) in the query.
func TestPostFormBody(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")

	got := hostRequest{method: http.MethodPost, path: "/unattended/built?token=t2", body: "ip=192.0.2.7&note=a+b",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}.send(t, p)

	if got.status != http.StatusOK {
		t.Fatalf("proxy answered %d %q", got.status, got.body)
	}
	seen := foreman.Last(t)
	body, err := url.ParseQuery(seen.Body)
	if err != nil || body.Get("ip") != "192.0.2.7" || body.Get("note") != "a b" {
		t.Errorf("Foreman got body %q", seen.Body)
	}
	if seen.Query.Get("ip") != "192.0.2.7" || seen.Query.Get("token") != "t2" {
		t.Errorf("Foreman got query %q", seen.RawQuery)
	}
}

func TestHostgroupTemplatePathEscaping(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	cases := []struct{ path, wantRaw, wantDecoded string }{
		{"/unattended/template/Kickstart%20default/My%20Group", "/unattended/template/Kickstart+default/My+Group", "/unattended/template/Kickstart+default/My+Group"},
		{"/unattended/template/PXE/base/web%20servers", "/unattended/template/PXE/base/web+servers", "/unattended/template/PXE/base/web+servers"},
		{"/unattended/template/PXE/a%2Fb", "/unattended/template/PXE/a/b", "/unattended/template/PXE/a/b"},
		{"/unattended/provision/meta%3Fdata", "/unattended/provision/meta%3Fdata", "/unattended/provision/meta?data"},
	}
	for _, tc := range cases {
		got := hostRequest{path: tc.path + "?token=x"}.send(t, p)
		if got.status != http.StatusOK {
			t.Errorf("%s: %d %q", tc.path, got.status, got.body)
			continue
		}
		seen := foreman.Last(t)
		if seen.RawPath != tc.wantRaw || seen.Path != tc.wantDecoded {
			t.Errorf("%s relayed as %s (decoded %s), want %s", tc.path, seen.RawPath, seen.Path, tc.wantRaw)
		}
		if seen.Query.Get("token") != "x" || seen.Query.Has("template") || seen.Query.Has("splat") {
			t.Errorf("%s relayed with query %q", tc.path, seen.RawQuery)
		}
	}
}

// Dot segments would lead a public request out of /unattended to any Foreman URL,
// sent with the proxy's identity.
func TestDotSegmentsRefused(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	for _, path := range []string{
		"/unattended/%2E%2E",
		"/unattended/template/x/..%2F..%2F..",
		"/unattended/template/%2E/hg",
		"/userdata/%2E%2E",
		"/unattended/template/x/a%2F%2E%2E%2Fb",
		"/unattended/..%2F..%2Fapi%2Fhosts",
		"/unattended/..%5C..%5Capi",
		"/unattended/template//hg",
	} {
		got := hostRequest{path: path}.send(t, p)
		if got.status != http.StatusBadRequest || !strings.Contains(got.body, "invalid path segment") {
			t.Errorf("%s: %d %q, want 400 invalid path segment", path, got.status, got.body)
		}
	}
	if n := len(foreman.Requests()); n != 0 {
		t.Errorf("Foreman got %d requests, want none: %+v", n, foreman.Requests())
	}
}

// Control characters in a decoded path segment are refused with 400, never relayed;
// the reply shows them escaped.
func TestControlCharactersRefused(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	const ctl = "control characters are not allowed"
	for _, tc := range []struct{ path, want string }{
		{"/unattended/%00", `Failed to proxy /\x00 for {"kind"=>"\x00"}: invalid path segment "\x00": ` + ctl},
		{"/unattended/provision%0a2026-12-06T02:00:00%20x%20[E]%20forged?token=t",
			`Failed to proxy /provision\n2026-12-06T02:00:00 x [E] forged for {"kind"=>"provision\n2026-12-06T02:00:00 x [E] forged", "token"=>"t"}: ` +
				`invalid path segment "provision\n2026-12-06T02:00:00 x [E] forged": ` + ctl},
		{"/unattended/template/a%7f", `Failed to retrieve template template for {"kind"=>"template", "template"=>"a\x7f"}: invalid path segment "a\x7f": ` + ctl},
		{"/unattended/template/x/hg%0d", `Failed to retrieve template hostgroup template for {"kind"=>"template", "splat"=>"hg\r", "template"=>"x"}: invalid path segment "hg\r": ` + ctl},
		{"/userdata/aa:bb:cc:dd:ee:ff/meta%09data", `Failed to retrieve meta\tdata userdata template for {"kind"=>"meta\tdata", "mac"=>"aa:bb:cc:dd:ee:ff"}: invalid path segment "meta\tdata": ` + ctl},
	} {
		got := hostRequest{path: tc.path}.send(t, p)
		if got.status != http.StatusBadRequest || got.body != tc.want {
			t.Errorf("%s: %d %q,\nwant 400 %q", tc.path, got.status, got.body, tc.want)
		}
	}
	if n := len(foreman.Requests()); n != 0 {
		t.Errorf("Foreman got %d requests, want none: %+v", n, foreman.Requests())
	}
}

func TestFailedStatusesArePassedOn(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	cases := []struct {
		route  string
		reply  fakeforeman.Reply
		want   int
		prefix string
		reason string
	}{
		{"/unattended/built?token=old", fakeforeman.Reply{Status: 401, ContentType: "text/plain", Body: "expired"}, 401,
			`Failed to proxy /built for {"kind"=>"built", "token"=>"old"}: Error retrieving unattended/built for {"token"=>"old", "url"=>"` + templateURL + `"} from 127.0.0.1: `,
			"HTTP 401 Unauthorized: expired"},
		{"/unattended/provision", fakeforeman.Reply{Status: 404, ContentType: "text/plain", Body: "unattended: unable to find a host that matches the request from 127.0.0.1"}, 404,
			"Failed to proxy /provision for ", "HTTP 404 Not Found: unattended: unable to find a host"},
		{"/unattended/provision", fakeforeman.Reply{Status: 405, ContentType: "text/plain", Body: "host not in build mode"}, 405, "Failed to proxy /provision", "HTTP 405 Method Not Allowed"},
		{"/unattended/provision", fakeforeman.Reply{Status: 409, ContentType: "text/plain", Body: "no OS"}, 409, "Failed to proxy /provision", "HTTP 409 Conflict: no OS"},
		{"/unattended/provision", fakeforeman.Reply{Status: 500, ContentType: "text/html", Body: "<html>oops</html>"}, 500, "Failed to proxy /provision", "HTTP 500 Internal Server Error"},
		{"/unattended/provision", fakeforeman.Reply{Status: 302, ContentType: "text/html", Body: "moved"}, 302, "Failed to proxy /provision", "HTTP 302 Found"},
		{"/unattended/template/PXE/hg", fakeforeman.Reply{Status: 404, ContentType: "text/plain", Body: "no such hostgroup"}, 404, "Failed to retrieve template hostgroup template for ", "from 127.0.0.1: HTTP 404 Not Found: no such hostgroup"},
		{"/userdata/user-data", fakeforeman.Reply{Status: 404, ContentType: "text/plain", Body: "no host"}, 404, "Failed to retrieve user-data userdata template for ", "Error retrieving userdata/user-data"},
		{"/userdata/meta-data", fakeforeman.Reply{Status: 401, ContentType: "text/plain"}, 401, "Failed to retrieve meta-data userdata template", "from 127.0.0.1: HTTP 401 Unauthorized"},
	}
	for _, tc := range cases {
		foreman.SetReply(tc.reply)
		got := hostRequest{path: tc.route, header: map[string]string{"Accept": "application/json"}}.send(t, p)
		if got.status != tc.want {
			t.Errorf("%s with Foreman %d: got %d %q, want %d", tc.route, tc.reply.Status, got.status, got.body, tc.want)
		}
		if !strings.HasPrefix(got.body, tc.prefix) || !strings.Contains(got.body, tc.reason) {
			t.Errorf("%s with Foreman %d: message %q, want prefix %q and %q", tc.route, tc.reply.Status, got.body, tc.prefix, tc.reason)
		}
		if strings.Contains(got.body, "<html>") {
			t.Errorf("%s: Foreman's HTML page leaked into the message %q", tc.route, got.body)
		}
		if got.contentType != "application/json" {
			t.Errorf("%s: error content type %q, want application/json for a JSON-accepting client", tc.route, got.contentType)
		}
	}
}

func TestOtherSuccessRoutes(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	cases := []struct{ route, wantPath string }{
		{"/unattended/iPXE?mac=aa:bb:cc:dd:ee:ff", "/unattended/iPXE"},
		{"/unattended/built/42", "/unattended/built/42"},
		{"/userdata/user-data", "/userdata/user-data"},
		{"/userdata/aa:bb:cc:dd:ee:ff/meta-data", "/userdata/aa:bb:cc:dd:ee:ff/meta-data"},
	}
	for _, tc := range cases {
		foreman.SetReply(fakeforeman.Reply{Status: http.StatusOK, ContentType: "text/plain", Body: "body of " + tc.wantPath})
		got := hostRequest{path: tc.route}.send(t, p)
		if got.status != http.StatusOK || got.body != "body of "+tc.wantPath {
			t.Errorf("%s: %d %q", tc.route, got.status, got.body)
		}
		seen := foreman.Last(t)
		if seen.Path != tc.wantPath || seen.Query.Get("url") != templateURL {
			t.Errorf("%s relayed to %s?%s", tc.route, seen.Path, seen.RawQuery)
		}
	}
	if mac := foreman.Last(t).Query.Get("mac"); mac != "aa:bb:cc:dd:ee:ff" {
		t.Errorf("userdata MAC not passed as a param: %q", mac)
	}
}

func TestConnectionErrors(t *testing.T) {
	p := startProxy(t, fakeforeman.ClosedURL(t), "")
	cases := []struct {
		method, route string
		want          int
		prefix        string
	}{
		{http.MethodGet, "/unattended/provision?token=t", 400, `Failed to proxy /provision for {"kind"=>"provision", "token"=>"t"}: Get "http://127.0.0.1:`},
		{http.MethodPost, "/unattended/built", 400, `Failed to proxy /built for {"kind"=>"built"}: Post "http://127.0.0.1:`},
		{http.MethodGet, "/unattended/template/PXE/hg", 400, "Failed to retrieve template hostgroup template for "},
		{http.MethodGet, "/userdata/user-data", 500, `Failed to retrieve user-data userdata template for {"kind"=>"user-data"}: Get "http://127.0.0.1:`},
	}
	for _, tc := range cases {
		got := hostRequest{method: tc.method, path: tc.route}.send(t, p)
		if got.status != tc.want || !strings.HasPrefix(got.body, tc.prefix) || !strings.Contains(got.body, "connection refused") {
			t.Errorf("%s %s: %d %q, want %d starting %q and naming the refusal", tc.method, tc.route, got.status, got.body, tc.want, tc.prefix)
		}
	}
}

// Every host of a build wave goes through one pool of connections to Foreman.
func TestKeepAliveReusesConnection(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")
	for i := 0; i < 5; i++ {
		foreman.SetReply(fakeforeman.Reply{Status: http.StatusOK, ContentType: "text/plain", Body: "ok"})
		if i == 3 {
			foreman.SetReply(fakeforeman.Reply{Status: http.StatusNotFound, ContentType: "text/plain", Body: "no host"})
		}
		hostRequest{path: "/unattended/provision"}.send(t, p)
	}
	if n := len(foreman.Requests()); n != 5 {
		t.Fatalf("Foreman got %d requests, want 5", n)
	}
	if c := foreman.Connections(); c != 1 {
		t.Errorf("5 relays used %d connections to Foreman, want 1", c)
	}
}
