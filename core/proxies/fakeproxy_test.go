package proxies_test

// Proxies the real one cannot play: v1-only, broken, slow, plugins, odd replies.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/proxies"
)

// fake serves fixed answers by path ("GET /v2/features" → status, body) and records
// the requests it got.
type fake struct {
	answers map[string]answer
	mu      sync.Mutex
	got     []*http.Request
	bodies  []string
}

type answer struct {
	status int
	body   string
}

func startFake(t *testing.T, answers map[string]answer) (*fake, string) {
	t.Helper()
	f := &fake{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, r)
		f.bodies = append(f.bodies, string(body))
		f.mu.Unlock()
		a, ok := f.answers[r.Method+" "+r.URL.RequestURI()]
		if !ok {
			http.Error(w, "Requested url was not found", http.StatusNotFound)
			return
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fake) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.got {
		out = append(out, r.Method+" "+r.URL.RequestURI())
	}
	return out
}

func client() *proxies.Client { return proxies.NewClient(nil, 5*time.Second) }

func TestV1OnlyProxy(t *testing.T) {
	f, u := startFake(t, map[string]answer{"GET /features": {200, `["puppetca","tftp","foo","httpboot"]`}})
	ctx := proxies.WithRequestID(context.Background(), "req-1")
	got, err := client().Features(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	want := []proxies.Feature{
		{Name: "HTTPBoot", Capabilities: []string{}, Settings: map[string]any{}},
		{Name: "Puppet CA", Capabilities: []string{}, Settings: map[string]any{}},
		{Name: "TFTP", Capabilities: []string{}, Settings: map[string]any{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("features %#v", got)
	}
	if p := f.paths(); !reflect.DeepEqual(p, []string{"GET /v2/features", "GET /features"}) {
		t.Fatalf("requests %v", p)
	}
	for _, r := range f.got {
		if r.Header.Get("Accept") != "application/json" || r.Header.Get("X-Request-Id") != "req-1" {
			t.Fatalf("headers %v", r.Header)
		}
	}
}

func TestV2KeepsRunningKnownFeatures(t *testing.T) {
	_, u := startFake(t, map[string]answer{"GET /v2/features": {200, `{
		"dhcp":{"state":"running","capabilities":["dhcp_filename_ipv4","dhcp_filename_hostname"],"settings":{"use_provider":"dhcp_isc"}},
		"dns":{"state":"failed","capabilities":[],"settings":{}},
		"tftp":{"state":"disabled"},
		"externalipam":{"state":"running","capabilities":null,"settings":null},
		"ansible":{"state":"running"},
		"openscap":{"state":"starting"},
		"foo":{"state":"running"}}`}})
	got, err := client().Features(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	want := []proxies.Feature{
		{Name: "Ansible", Capabilities: []string{}, Settings: map[string]any{}},
		{Name: "DHCP", Capabilities: []string{"dhcp_filename_ipv4", "dhcp_filename_hostname"}, Settings: map[string]any{"use_provider": "dhcp_isc"}},
		{Name: "External IPAM", Capabilities: []string{}, Settings: map[string]any{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("features\n%#v\nwant\n%#v", got, want)
	}
}

func TestDiscoveryFailures(t *testing.T) {
	const (
		invalid = "An invalid response was received while requesting available features from this proxy"
		none    = "No features found on this proxy, please make sure you enable at least one feature"
		check   = "Please check the proxy is configured and running on the host."
	)
	unrecognized := func(names string) string {
		return `Features "` + names + `" in this proxy are not recognized by Foreman. ` +
			`If these features come from a Smart Proxy plugin, make sure Foreman has the plugin installed too.`
	}
	for _, tc := range []struct {
		name    string
		answers map[string]answer
		want    []string // {URL} stands for the fake's URL
	}{
		{"one unknown", map[string]answer{"GET /v2/features": {200, `{"foo":{"state":"running"}}`}}, []string{unrecognized("foo")}},
		{"two unknown", map[string]answer{"GET /v2/features": {200, `{"foo":{"state":"running"},"bar":{"state":"running"}}`}},
			[]string{unrecognized("bar and foo")}},
		{"three unknown, v1", map[string]answer{"GET /features": {200, `["c","a","b"]`}}, []string{unrecognized("a, b, and c")}},
		{"none running", map[string]answer{"GET /v2/features": {200, `{"tftp":{"state":"failed"},"foo":{"state":"disabled"}}`}},
			[]string{none}},
		{"empty v1", map[string]answer{"GET /features": {200, `[]`}}, []string{none}},
		{"v2 array", map[string]answer{"GET /v2/features": {200, `["tftp"]`}}, []string{invalid}},
		{"v2 string", map[string]answer{"GET /v2/features": {200, `"tftp"`}}, []string{invalid}},
		{"v2 empty body", map[string]answer{"GET /v2/features": {200, ``}}, []string{invalid}},
		{"v2 entry not an object", map[string]answer{"GET /v2/features": {200, `{"tftp":"running"}`}}, []string{invalid}},
		{"v2 state not a string", map[string]answer{"GET /v2/features": {200, `{"tftp":{"state":1}}`}}, []string{invalid}},
		{"v1 number", map[string]answer{"GET /features": {200, `42`}}, []string{invalid}},
		{"v1 array of numbers", map[string]answer{"GET /features": {200, `[1,2]`}}, []string{invalid}},
		{"v2 bad JSON", map[string]answer{"GET /v2/features": {200, `{"tftp":`}}, []string{
			"Unable to communicate with the proxy: Unable to detect features (invalid JSON: unexpected end of JSON input) for proxy {URL}/v2/features", check}},
		{"v1 bad JSON", map[string]answer{"GET /features": {200, `[oops]`}}, []string{
			"Unable to communicate with the proxy: Unable to detect features (invalid JSON: invalid character 'o' looking for beginning of value) for proxy {URL}/features", check}},
		{"v2 error", map[string]answer{"GET /v2/features": {500, "boom"}}, []string{
			"Unable to communicate with the proxy: Unable to detect features (500 Internal Server Error (boom)) for proxy {URL}/v2/features", check}},
		{"neither v2 nor v1", map[string]answer{}, []string{
			"Unable to communicate with the proxy: Unable to detect features (404 Not Found (Requested url was not found)) for proxy {URL}/features", check}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, u := startFake(t, tc.answers)
			_, err := client().Features(context.Background(), u)
			want := make([]string, len(tc.want))
			for i, m := range tc.want {
				want[i] = strings.ReplaceAll(m, "{URL}", u)
			}
			expectMessages(t, err, want...)
		})
	}
}

func TestProxyDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "https://" + ln.Addr().String()
	ln.Close()
	_, err = client().Features(context.Background(), u)
	var de *proxies.DiscoveryError
	if !errors.As(err, &de) || len(de.Messages) != 2 ||
		!strings.HasPrefix(de.Messages[0], "Unable to communicate with the proxy: Unable to detect features (dial tcp "+ln.Addr().String()) ||
		!strings.HasSuffix(de.Messages[0], "connect: connection refused) for proxy "+u+"/v2/features") ||
		de.Messages[1] != "Please check the proxy is configured and running on the host." {
		t.Fatalf("error %#v", err)
	}
}

// proxy_request_timeout bounds the whole request: a proxy that never answers is a
// communication failure, not a hung core.
func TestProxyTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	_, err := proxies.NewClient(nil, 100*time.Millisecond).Features(context.Background(), srv.URL)
	var de *proxies.DiscoveryError
	if !errors.As(err, &de) || !strings.Contains(de.Messages[0], "Client.Timeout exceeded") {
		t.Fatalf("error %#v", err)
	}
}

func TestInvalidProxyURL(t *testing.T) {
	for _, u := range []string{"ftp://proxy.example.test", "proxy.example.test:8443", "https://"} {
		_, err := client().Features(context.Background(), u)
		var de *proxies.DiscoveryError
		if !errors.As(err, &de) || !strings.Contains(de.Messages[0], "invalid proxy URL") {
			t.Fatalf("%s: error %#v", u, err)
		}
	}
}

func TestDHCPSubnets(t *testing.T) {
	_, u := startFake(t, map[string]answer{"GET /dhcp": {200, `[
		{"network":"192.168.122.0","netmask":"255.255.255.0","options":{"routers":["192.168.122.1","192.168.122.2"],
		 "domain_name_servers":["192.168.122.53","192.168.122.54","192.168.122.55"],"range":["192.168.122.100","192.168.122.200"],
		 "lease_time":3600}},
		{"network":"10.0.0.0","netmask":"255.0.0.0","options":{"domain_name_servers":["10.0.0.53"],"range":["10.0.0.10"]}},
		{"network":"172.16.0.0","netmask":"255.255.0.0"}]`}})
	got, err := client().DHCPSubnets(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	want := []proxies.DHCPSubnet{
		{Network: "192.168.122.0", Netmask: "255.255.255.0", Gateway: "192.168.122.1", DNSPrimary: "192.168.122.53",
			DNSSecondary: "192.168.122.54", From: "192.168.122.100", To: "192.168.122.200"},
		{Network: "10.0.0.0", Netmask: "255.0.0.0", DNSPrimary: "10.0.0.53"}, // half a range is no range
		{Network: "172.16.0.0", Netmask: "255.255.0.0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("subnets\n%#v\nwant\n%#v", got, want)
	}
}

func TestLogsQueryAndErrors(t *testing.T) {
	f, u := startFake(t, map[string]answer{
		"GET /logs/?from_timestamp=1700000000": {200, `{"info":{},"logs":[]}`},
		"GET /version":                         {200, `not json`},
		"GET /dhcp":                            {200, `{"not":"a list"}`},
	})
	raw, err := client().Logs(context.Background(), u, 1700000000)
	if err != nil || string(raw) != `{"info":{},"logs":[]}` {
		t.Fatalf("logs %s, %v", raw, err)
	}
	if _, err := client().Logs(context.Background(), u, 5); !isStatus(err, 404) {
		t.Fatalf("logs of an unknown timestamp path: %v", err)
	}
	if _, err := client().Version(context.Background(), u); err == nil || !strings.Contains(err.Error(), "invalid answer to GET /version") {
		t.Fatalf("version: %v", err)
	}
	if _, err := client().DHCPSubnets(context.Background(), u); err == nil || !strings.Contains(err.Error(), "invalid answer to GET /dhcp") {
		t.Fatalf("dhcp: %v", err)
	}
	if p := f.paths(); p[0] != "GET /logs/?from_timestamp=1700000000" {
		t.Fatalf("requests %v", p)
	}
}

// Do sends Foreman's form encoding: arrays as key[]=v.
func TestDoFormEncoding(t *testing.T) {
	f, u := startFake(t, map[string]answer{"POST /dhcp/192.168.122.0": {200, ""}})
	form := url.Values{"hostname": {"web01.example.test"}, "mac": {"52:54:00:aa:bb:cc"},
		"related_macs[]": {"52:54:00:aa:bb:cd", "52:54:00:aa:bb:ce"}}
	body, err := client().Do(context.Background(), http.MethodPost, u, "dhcp/192.168.122.0", form)
	if err != nil || len(body) != 0 {
		t.Fatalf("%q, %v", body, err)
	}
	r := f.got[0]
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	sent, err := url.ParseQuery(f.bodies[0])
	if err != nil || !reflect.DeepEqual(sent, form) {
		t.Fatalf("body %q", f.bodies[0])
	}
	if !strings.Contains(f.bodies[0], "related_macs%5B%5D=52%3A54%3A00%3Aaa%3Abb%3Acd&related_macs%5B%5D=52%3A54%3A00%3Aaa%3Abb%3Ace") {
		t.Fatalf("arrays not sent as key[]=v: %q", f.bodies[0])
	}
}

func isStatus(err error, status int) bool {
	var pe *proxies.ProxyError
	return errors.As(err, &pe) && pe.Status == status
}
