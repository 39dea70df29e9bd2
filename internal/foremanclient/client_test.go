package foremanclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/settings"
)

func TestRelayHeadersKeepsTheHostsOwnAndDropsHopAndAddressHeaders(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/unattended/provision", nil)
	r.RemoteAddr = "[2001:db8::7]:40000"
	r.Header.Set("X-RHN-Provisioning-MAC-0", "eth0 aa:bb:cc:dd:ee:ff")
	r.Header.Set("Authorization", "Bearer x")
	r.Header.Set("Connection", "keep-alive, X-Hop-Secret")
	r.Header.Set("X-Hop-Secret", "only for the next hop")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Forwarded", "for=10.6.6.6")
	r.Header.Set("X-Forwarded-For", "10.6.6.6")
	r.Header.Set("Client-IP", "10.6.6.6")

	got := RelayHeaders(r)

	want := http.Header{
		"X-Rhn-Provisioning-Mac-0": {"eth0 aa:bb:cc:dd:ee:ff"},
		"Authorization":            {"Bearer x"},
		"Accept":                   {ForemanAccept},
		"X-Forwarded-For":          {"2001:db8::7"},
	}
	if len(got) != len(want) {
		t.Errorf("relayed %v, want %v", got, want)
	}
	for k, v := range want {
		if g := got.Values(k); len(g) != len(v) || g[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	if r.Header.Get("Connection") == "" {
		t.Error("RelayHeaders changed the incoming request's headers")
	}
}

func TestBodyReencodesAParsedForm(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader("b=2&a=1&a=3"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_ = r.FormValue("_method") // what the server's method override does first
	body, n := Body(r)
	data, _ := io.ReadAll(body)
	if string(data) != "a=1&a=3&b=2" || n != int64(len(data)) {
		t.Errorf("form body relayed as %q (length %d)", data, n)
	}

	raw := `{"host":{"name":"a"}}`
	r = httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(raw))
	r.Header.Set("Content-Type", "application/json")
	body, n = Body(r)
	data, _ = io.ReadAll(body)
	if string(data) != raw || n != int64(len(raw)) {
		t.Errorf("JSON body relayed as %q (length %d)", data, n)
	}
}

func TestSharedIsOnePerForemanAndIdentity(t *testing.T) {
	a := &settings.Global{File: "settings.yml", ForemanURL: "http://127.0.0.1:1/"}
	b := &settings.Global{File: "settings.yml", ForemanURL: "http://127.0.0.1:1/"}
	c := &settings.Global{File: "settings.yml", ForemanURL: "http://127.0.0.1:2/"}
	ca, err := Shared(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := Shared(b)
	cc, _ := Shared(c)
	if ca != cb || ca == cc {
		t.Errorf("Shared: same settings gave %p and %p, other Foreman gave %p", ca, cb, cc)
	}
}

func TestNewRefusesMissingOrOddForemanURL(t *testing.T) {
	_, err := New(&settings.Global{File: "/etc/foreman-proxy/settings.yml"})
	if !errors.Is(err, ErrNoForemanURL) || !strings.Contains(err.Error(), "/etc/foreman-proxy/settings.yml") {
		t.Errorf("no foreman_url: %v", err)
	}
	_, err = New(&settings.Global{File: "settings.yml", ForemanURL: "ftp://foreman.example.com/"})
	if err == nil || !strings.Contains(err.Error(), "must be an http or https URL") {
		t.Errorf("ftp foreman_url: %v", err)
	}
}

func TestDoKeepsForemanURLPathPrefix(t *testing.T) {
	var seen *url.URL
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL }))
	defer srv.Close()
	c, err := New(&settings.Global{File: "settings.yml", ForemanURL: srv.URL + "/foreman/"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(t.Context(), Request{Method: http.MethodGet, Path: "unattended/provision", Query: url.Values{"token": {"a b"}}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen == nil || seen.Path != "/foreman/unattended/provision" || seen.RawQuery != "token=a+b" {
		t.Errorf("Foreman got %v", seen)
	}
}
