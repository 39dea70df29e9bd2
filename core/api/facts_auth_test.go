package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dghubble/oauth1"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// oauthClient signs as the installer's registration does (two-legged OAuth 1.0,
// HMAC-SHA1) and names the effective user in foreman_user.
func oauthClient(c *core, t *testing.T, secret string) *http.Client {
	base := c.client(t, nil, func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.Header["Foreman_user"] = []string{"admin"}
			return next.RoundTrip(r)
		})
	})
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, base)
	return oauth1.NewConfig(consumerKey, secret).Client(ctx, oauth1.NewToken("", ""))
}

func TestAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		anonymous := c.client(t, nil, nil)
		for _, path := range []string{"/api/v2/smart_proxies", "/api/hosts", "/api/v2/subnets/1", "/api/v2/media"} {
			got := do(t, anonymous, "GET", c.URL+path, nil).expect(t, 401)
			if got.Body != `{"error":{"message":"Unable to authenticate user "}}`+"\n" {
				t.Errorf("%s: 401 body %q", path, got.Body)
			}
		}
		wrong := c.client(t, nil, basicAuth("admin", "wrong"))
		if got := do(t, wrong, "POST", c.URL+"/api/v2/architectures", map[string]any{"name": "x"}).expect(t, 401); !strings.Contains(got.Body, "Unable to authenticate user admin") {
			t.Errorf("wrong password: %s", got.Body)
		}
		// OAuth as the installer: search with quotes, then create.
		signed := oauthClient(c, t, consumerSecret)
		search := c.URL + "/api/v2/architectures?search=" + url.QueryEscape(`name="x 86"`)
		do(t, signed, "GET", search, nil).expect(t, 200)
		do(t, signed, "POST", c.URL+"/api/v2/architectures", map[string]any{"architecture": map[string]any{"name": "x86_64"}}).expect(t, 201)
		do(t, oauthClient(c, t, "not-the-secret"), "POST", c.URL+"/api/v2/architectures", map[string]any{"architecture": map[string]any{"name": "arm"}}).expect(t, 401)
		if list := do(t, c.User, "GET", c.URL+"/api/v2/architectures", nil).expect(t, 200); list.JSON["total"] != 1.0 {
			t.Fatalf("a refused request wrote: %s", list.Body)
		}
		// Unknown routes and methods keep the JSON layout.
		if got := do(t, c.User, "GET", c.URL+"/api/v2/nothing", nil).expect(t, 404); got.JSON["error"] == nil {
			t.Errorf("404 body %s", got.Body)
		}
		do(t, c.User, "PATCH", c.URL+"/api/v2/architectures", nil).expect(t, 404)
	})
}

func TestFactsUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		ctx := context.Background()
		puppet := store.SmartProxy{Name: "puppet.example.test", URL: "https://puppet.example.test:8443", Features: []store.Feature{{Name: "Puppet"}}}
		tftp := store.SmartProxy{Name: "tftp.example.test", URL: "https://tftp.example.test:8443", Features: []store.Feature{{Name: "TFTP"}}}
		for _, p := range []*store.SmartProxy{&puppet, &tftp} {
			if err := c.Store.CreateSmartProxy(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		cert := func(ca *testpki.CA, name string) *tls.Certificate {
			issued := ca.Issue(t, testpki.Spec{CN: name, DNSNames: []string{name}})
			return &issued.TLS
		}
		body := func(name string, facts map[string]any) map[string]any {
			return map[string]any{"name": name, "certname": name, "facts": facts}
		}
		storedFacts := func(name string) map[string]any {
			t.Helper()
			h, err := c.Store.HostByName(ctx, name)
			if err != nil {
				t.Fatalf("host %s: %v", name, err)
			}
			raw, _, err := c.Store.Facts(ctx, h.ID)
			if err != nil {
				t.Fatalf("facts of %s: %v", name, err)
			}
			var f map[string]any
			json.Unmarshal(raw, &f)
			return f
		}

		// The ENC script on the Puppet server: its certificate, nothing else.
		fromPuppet := c.client(t, cert(c.CA, "puppet.example.test"), nil)
		for i, prefix := range prefixes {
			got := do(t, fromPuppet, "POST", c.URL+prefix+"/hosts/facts",
				body("node1.example.test", map[string]any{"os": map[string]any{"family": "RedHat"}, "run": i})).expect(t, 201)
			if got.JSON["name"] != "node1.example.test" {
				t.Fatalf("answer %s", got.Body)
			}
			if f := storedFacts("node1.example.test"); f["run"] != float64(i) || f["os"].(map[string]any)["family"] != "RedHat" {
				t.Fatalf("stored facts %v", f)
			}
		}
		// The installer's foreman_host: OAuth, creates the proxy's own host.
		do(t, oauthClient(c, t, consumerSecret), "POST", c.URL+"/api/v2/hosts/facts", body("proxy.example.test", map[string]any{"fqdn": "proxy.example.test"})).expect(t, 201)
		// A user with a password.
		do(t, c.User, "POST", c.URL+"/api/hosts/facts", body("node2.example.test", map[string]any{"a": "b"})).expect(t, 201)

		// Refused: a registered proxy without the Puppet feature, an unregistered name,
		// no certificate and no login.
		for who, client := range map[string]*http.Client{
			"proxy without Puppet": c.client(t, cert(c.CA, "tftp.example.test"), nil),
			"unregistered name":    c.client(t, cert(c.CA, "intruder.example.test"), nil),
			"nobody":               c.client(t, nil, nil),
		} {
			got := do(t, client, "POST", c.URL+"/api/v2/hosts/facts", body("evil.example.test", map[string]any{"x": 1}))
			if got.Status != 403 || !strings.Contains(got.Body, `"message":"Access denied"`) {
				t.Errorf("%s: %d %s", who, got.Status, got.Body)
			}
		}
		// A certificate from another CA with a registered name does not get through TLS.
		other := testpki.NewCA(t, "Other CA")
		req, _ := http.NewRequest("POST", c.URL+"/api/v2/hosts/facts", strings.NewReader(`{"name":"evil.example.test","facts":{}}`))
		if resp, err := c.client(t, cert(other, "puppet.example.test"), nil).Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("certificate of another CA: %d", resp.StatusCode)
			}
		}
		if _, err := c.Store.HostByName(ctx, "evil.example.test"); err != store.ErrNotFound {
			t.Fatalf("a refused upload created a host: %v", err)
		}

		do(t, fromPuppet, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"facts": map[string]any{}}).expectMessages(t, 422, "Name can't be blank")
		do(t, fromPuppet, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "x.example.test", "facts": []int{1}}).expectMessages(t, 422, "Facts must be a JSON object")
		do(t, fromPuppet, "POST", c.URL+"/api/v2/hosts/facts", "not json").expect(t, 400)
		list := do(t, c.User, "GET", c.URL+"/api/v2/hosts", nil).expect(t, 200)
		if list.JSON["total"] != 3.0 {
			t.Fatalf("hosts after uploads: %s", list.Body)
		}
	})
}
