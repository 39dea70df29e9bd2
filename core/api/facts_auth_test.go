package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dghubble/oauth1"

	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
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
			got := coretest.Do(t, anonymous, "GET", c.URL+path, nil).Expect(t, 401)
			if got.Body != `{"error":{"message":"Unable to authenticate user "}}`+"\n" {
				t.Errorf("%s: 401 body %q", path, got.Body)
			}
		}
		wrong := c.client(t, nil, basicAuth("admin", "wrong"))
		if got := coretest.Do(t, wrong, "POST", c.URL+"/api/v2/architectures", map[string]any{"name": "x"}).Expect(t, 401); !strings.Contains(got.Body, "Unable to authenticate user admin") {
			t.Errorf("wrong password: %s", got.Body)
		}
		// OAuth as the installer: search with quotes, then create.
		signed := oauthClient(c, t, consumerSecret)
		search := c.URL + "/api/v2/architectures?search=" + url.QueryEscape(`name="x 86"`)
		coretest.Do(t, signed, "GET", search, nil).Expect(t, 200)
		coretest.Do(t, signed, "POST", c.URL+"/api/v2/architectures", map[string]any{"architecture": map[string]any{"name": "x86_64"}}).Expect(t, 201)
		coretest.Do(t, oauthClient(c, t, "not-the-secret"), "POST", c.URL+"/api/v2/architectures", map[string]any{"architecture": map[string]any{"name": "arm"}}).Expect(t, 401)
		if list := coretest.Do(t, c.User, "GET", c.URL+"/api/v2/architectures", nil).Expect(t, 200); list.JSON["total"] != 1.0 {
			t.Fatalf("a refused request wrote: %s", list.Body)
		}
		// Unknown routes and methods keep the JSON layout.
		if got := coretest.Do(t, c.User, "GET", c.URL+"/api/v2/nothing", nil).Expect(t, 404); got.JSON["error"] == nil {
			t.Errorf("404 body %s", got.Body)
		}
		coretest.Do(t, c.User, "PATCH", c.URL+"/api/v2/architectures", nil).Expect(t, 404)
	})
}

// The facts upload moved to core/puppet (issue 12); its tests are there (facts_test.go).
