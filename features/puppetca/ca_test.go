package puppetca

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const hostnameProvider = ":use_provider: puppetca_hostname_whitelisting\n"

func TestListEmpty(t *testing.T) {
	fx := start(t, "", nil)
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca", nil), 200, "{}")
}

func TestListNormalisesStates(t *testing.T) {
	fx := start(t, "", nil)
	fx.ca.request("new.example.com")
	fx.ca.put("good.example.com", map[string]any{"state": "signed", "fingerprint": "F8:DA", "serial_number": 12,
		"not_before": "2026-11-21T00:33:29UTC", "not_after": "2031-11-21T00:33:29UTC"})
	fx.ca.put("old.example.com", map[string]any{"state": "signed", "fingerprint": "01:02", "serial_number": 3,
		"not_before": "2016-01-01T00:00:00UTC", "not_after": "2021-01-01T00:00:00UTC"})
	fx.ca.put("gone.example.com", map[string]any{"state": "revoked", "fingerprint": "03:04", "serial_number": 4,
		"not_before": "2026-11-21T00:33:29UTC", "not_after": "2031-11-21T00:33:29UTC"})
	fx.ca.put("ancient.example.com", map[string]any{"state": "signed", "fingerprint": "05:06"}) // puppetserver < 6.3
	proxytest.ExpectJSON(t, fx.do(t, http.MethodGet, "/puppet/ca", nil), `{
	 "new.example.com": {"state":"pending","fingerprint":"AA:BB","serial":null,"not_before":null,"not_after":null},
	 "good.example.com": {"state":"valid","fingerprint":"F8:DA","serial":12,"not_before":"2026-11-21T00:33:29UTC","not_after":"2031-11-21T00:33:29UTC"},
	 "old.example.com": {"state":"revoked","fingerprint":"01:02","serial":3,"not_before":"2016-01-01T00:00:00UTC","not_after":"2021-01-01T00:00:00UTC"},
	 "gone.example.com": {"state":"revoked","fingerprint":"03:04","serial":4,"not_before":"2026-11-21T00:33:29UTC","not_after":"2031-11-21T00:33:29UTC"},
	 "ancient.example.com": {"state":"valid","fingerprint":"05:06","serial":null,"not_before":null,"not_after":null}}`)
	if cn := <-fx.server.ClientNames; cn != "proxy.test" {
		t.Errorf("client certificate %q reached the CA, want proxy.test", cn)
	}
}

func TestSign(t *testing.T) {
	fx := start(t, "", nil)
	fx.ca.request("host.example.com")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/host.example.com", nil), 200, "")
	if st := fx.ca.certs["host.example.com"]["state"]; st != "signed" {
		t.Fatalf("CA state %v after sign", st)
	}
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/host.example.com", nil), 406,
		"Failed to sign certificate(s) for host.example.com: Failed to set Puppet CA certificate_status v1 API: HTTP 409: Cannot sign certificate for host host.example.com without a certificate request")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/unknown.example.com", nil), 406,
		"Failed to sign certificate(s) for unknown.example.com: Failed to set Puppet CA certificate_status v1 API: HTTP 404: Invalid certificate subject.")
}

func TestClean(t *testing.T) {
	fx := start(t, "", nil)
	fx.ca.request("pending.example.com")
	fx.ca.request("signed.example.com")
	expect(t, fx.do(t, http.MethodPost, "/puppet/ca/signed.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/signed.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/pending.example.com", nil), 200, "")
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca", nil), 200, "{}")
	expect(t, fx.do(t, http.MethodDelete, "/puppet/ca/signed.example.com", nil), 404,
		"Attempt to remove nonexistent client certificate for signed.example.com")
}

func TestCABackendFailure(t *testing.T) {
	fx := start(t, "", nil)
	fx.ca.fail = http.StatusInternalServerError
	expect(t, fx.do(t, http.MethodGet, "/puppet/ca", nil), 406,
		"Failed to list certificates: Failed to query Puppet CA search v1 API: HTTP 500: Internal Server Error")
	expectPrefix(t, fx.do(t, http.MethodPost, "/puppet/ca/x.example.com", nil), 406,
		"Failed to sign certificate(s) for x.example.com: Failed to set Puppet CA certificate_status v1 API: HTTP 500")
	expectPrefix(t, fx.do(t, http.MethodDelete, "/puppet/ca/x.example.com", nil), 406,
		"Failed to remove certificate(s) for x.example.com: Failed to set Puppet CA certificate_status v1 API: HTTP 500")
}

func TestCABackendDown(t *testing.T) {
	fx := start(t, "", nil)
	fx.server.Close()
	for _, c := range []struct{ method, path, prefix string }{
		{http.MethodGet, "/puppet/ca", "Failed to list certificates: "},
		{http.MethodPost, "/puppet/ca/x.example.com", "Failed to sign certificate(s) for x.example.com: "},
		{http.MethodDelete, "/puppet/ca/x.example.com", "Failed to remove certificate(s) for x.example.com: "},
	} {
		r := fx.do(t, c.method, c.path, nil)
		if r.Status != 406 || !strings.HasPrefix(r.Body, c.prefix) || !strings.Contains(r.Body, "connection refused") {
			t.Errorf("%s %s: got %d %q", c.method, c.path, r.Status, r.Body)
		}
	}
}

func TestV2FeaturesProviders(t *testing.T) {
	for name, c := range map[string]struct {
		yaml string
		want []any
	}{
		"default":           {"", []any{"puppetca_hostname_whitelisting", "puppetca_http_api"}},
		"hostname string":   {hostnameProvider, []any{"puppetca_hostname_whitelisting", "puppetca_http_api"}},
		"token":             {":use_provider: puppetca_token_whitelisting\n", []any{"puppetca_token_whitelisting", "puppetca_http_api"}},
		"already with http": {":use_provider: [puppetca_token_whitelisting, puppetca_http_api]\n", []any{"puppetca_token_whitelisting", "puppetca_http_api"}},
	} {
		t.Run(name, func(t *testing.T) {
			fx := start(t, c.yaml, map[string]string{
				"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/tokens.yml\n:certificate: $DIR/token.key\n",
			})
			var v2 map[string]struct {
				State    string         `json:"state"`
				Settings map[string]any `json:"settings"`
			}
			r := fx.do(t, http.MethodGet, "/v2/features", nil)
			if err := json.Unmarshal([]byte(r.Body), &v2); err != nil {
				t.Fatalf("%v: %s", err, r.Body)
			}
			want := map[string]any{"use_provider": c.want, "puppet_url": fx.server.URL, "state_backend": "journal"}
			if got := v2["puppetca"]; got.State != "running" || !reflect.DeepEqual(got.Settings, want) {
				t.Fatalf("v2 puppetca %+v, want running with %v", got, want)
			}
		})
	}
}

func TestProviderChoiceFailures(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"removed provider": {":use_provider: puppetca_puppet_cert\n", `unknown provider "puppetca_puppet_cert"`},
		"two autosigners":  {":use_provider: [puppetca_hostname_whitelisting, puppetca_token_whitelisting]\n", "must name one autosign provider"},
	} {
		t.Run(name, func(t *testing.T) {
			fx := start(t, c.yaml, map[string]string{"puppetca_token_whitelisting.yml": ":certificate: $DIR/token.key\n:tokens_file: $DIR/t.yml\n"})
			state, err := fx.proxy.Registry.StateOf("puppetca")
			if state != "failed" || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("state %s, error %v; want failed with %q", state, err, c.want)
			}
		})
	}
}
