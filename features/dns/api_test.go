package dns

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// unreachableProxy runs the dns feature with dns_nsupdate pointed at a port nobody
// answers on: requests that fail validation never reach it, and one that slipped
// through would answer with a connection error instead of the expected message.
func unreachableProxy(t *testing.T) *proxytest.Proxy {
	t.Helper()
	return proxytest.Start(t, ":dns_resolv_timeouts: [1]\n", map[string]string{
		"dns.yml":          ":enabled: true\n",
		"dns_nsupdate.yml": ":dns_server: 127.0.0.1:9\n",
	}, New())
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestAPIValidation(t *testing.T) {
	p := unreachableProxy(t)
	if s := p.State("dns"); s != "running" {
		t.Fatalf("dns state = %s, want running", s)
	}
	tests := []struct {
		name       string
		method     string
		path       string
		form       url.Values
		wantStatus int
		wantBody   string
	}{
		{"missing fqdn", "POST", "/dns/", form("value", "10.0.0.1", "type", "A"), 400, "'create' requires fqdn, value, and type parameters"},
		{"missing value", "POST", "/dns", form("fqdn", "h.example.test", "type", "A"), 400, "'create' requires fqdn, value, and type parameters"},
		{"missing type", "POST", "/dns", form("fqdn", "h.example.test", "value", "10.0.0.1"), 400, "'create' requires fqdn, value, and type parameters"},
		{"no body", "POST", "/dns", url.Values{}, 400, "'create' requires fqdn, value, and type parameters"},
		{"unknown type", "POST", "/dns", form("fqdn", "h.example.test", "value", "x", "type", "txt"), 400, "unrecognized 'type' parameter: TXT"},
		{"leading dash", "POST", "/dns", form("fqdn", "-test.com", "value", "10.0.0.1", "type", "A"), 400, "Invalid DNS name -test.com"},
		{"underscore in A name", "POST", "/dns", form("fqdn", "a_b.test.com", "value", "10.0.0.1", "type", "A"), 400, "Invalid DNS name a_b.test.com"},
		{"empty fqdn", "POST", "/dns", form("fqdn", "", "value", "10.0.0.1", "type", "A"), 400, "Invalid DNS name "},
		{"double dot", "POST", "/dns", form("fqdn", "a..test.com", "value", "10.0.0.1", "type", "A"), 400, "Invalid DNS name a..test.com"},
		{"label over 63", "POST", "/dns", form("fqdn", strings.Repeat("a", 64)+".test.com", "value", "10.0.0.1", "type", "A"), 400, "Invalid DNS name " + strings.Repeat("a", 64) + ".test.com"},
		{"bad name before bad type", "POST", "/dns", form("fqdn", "-x", "value", "1", "type", "BOGUS"), 400, "Invalid DNS name -x"},
		{"A out of range", "POST", "/dns", form("fqdn", "h.test.com", "value", "300.1.1.1", "type", "A"), 400, "invalid address: 300.1.1.1"},
		{"A short", "POST", "/dns", form("fqdn", "h.test.com", "value", "192.168.1", "type", "A"), 400, "invalid address: 192.168.1"},
		{"A with IPv6", "POST", "/dns", form("fqdn", "h.test.com", "value", "2001:db8::1", "type", "a"), 400, "address family mismatch: 2001:db8::1"},
		{"AAAA with IPv4", "POST", "/dns", form("fqdn", "h.test.com", "value", "10.0.0.1", "type", "AAAA"), 400, "address family mismatch: 10.0.0.1"},
		{"AAAA bad", "POST", "/dns", form("fqdn", "h.test.com", "value", "xxxx::1", "type", "AAAA"), 400, "invalid address: xxxx::1"},
		{"AAAA with zone", "POST", "/dns", form("fqdn", "h.test.com", "value", "fe80::1%eth0", "type", "AAAA"), 400, "invalid address: fe80::1%eth0"},
		{"CNAME bad target", "POST", "/dns", form("fqdn", "h.test.com", "value", "-bad", "type", "CNAME"), 400, "Invalid DNS name -bad"},
		{"PTR not reverse", "POST", "/dns", form("fqdn", "h.test.com", "value", "1.0.0.10.example.com", "type", "PTR"), 400, "Invalid reverse DNS 1.0.0.10.example.com"},
		{"PTR bad host", "POST", "/dns", form("fqdn", "h_x.test.com", "value", "1.0.0.10.in-addr.arpa", "type", "PTR"), 400, "Invalid DNS name h_x.test.com"},
		{"SRV three fields", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "0 5 389", "type", "SRV"), 400, "Invalid DNS SRV value 0 5 389"},
		{"SRV five fields", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "0 5 389 h.test.com x", "type", "SRV"), 400, "Invalid DNS SRV value 0 5 389 h.test.com x"},
		{"SRV port 0", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "0 5 0 h.test.com", "type", "SRV"), 400, "Invalid DNS SRV value 0 5 0 h.test.com"},
		{"SRV priority too big", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "65536 5 389 h.test.com", "type", "SRV"), 400, "Invalid DNS SRV value 65536 5 389 h.test.com"},
		{"SRV negative weight", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "0 -5 389 h.test.com", "type", "SRV"), 400, "Invalid DNS SRV value 0 -5 389 h.test.com"},
		{"SRV not numbers", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "a b c h.test.com", "type", "SRV"), 400, "Invalid DNS SRV value a b c h.test.com"},
		{"SRV bad target", "POST", "/dns", form("fqdn", "_ldap._tcp.test.com", "value", "0 5 389 -h", "type", "SRV"), 400, "Invalid DNS SRV value 0 5 389 -h"},
		{"SRV bad name", "POST", "/dns", form("fqdn", "-_ldap.test.com", "value", "0 5 389 h.test.com", "type", "SRV"), 400, "Invalid DNS srv name -_ldap.test.com"},
		{"delete without name", "DELETE", "/dns/", nil, 404, "Requested url was not found"},
		{"delete PTR of forward name", "DELETE", "/dns/test.com/PTR", nil, 400, "Invalid reverse DNS test.com"},
		{"delete unknown type", "DELETE", "/dns/test.com/INVALID", nil, 400, "unrecognized 'type' parameter: INVALID"},
		{"delete bad name", "DELETE", "/dns/-test.com", nil, 400, "Invalid DNS name -test.com"},
		{"delete bad name with type", "DELETE", "/dns/a_b.com/AAAA", nil, 400, "Invalid DNS name a_b.com"},
		{"get is not a route", "GET", "/dns", nil, 404, "Requested url was not found"},
		{"too many segments", "DELETE", "/dns/a.com/A/x", nil, 404, "Requested url was not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Do(t, tt.method, tt.path, tt.form)
			if got.Status != tt.wantStatus || got.Body != tt.wantBody {
				t.Errorf("%s %s %v = %d %q, want %d %q", tt.method, tt.path, tt.form, got.Status, got.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestProviderReachedAfterValidation shows valid input does reach the provider: with
// nobody answering, a create fails with 400 and the provider's error.
func TestProviderReachedAfterValidation(t *testing.T) {
	p := unreachableProxy(t)
	got := p.Do(t, "POST", "/dns/", form("fqdn", "h.test.com", "value", "10.0.0.1", "type", "A"))
	if got.Status != 400 || !strings.Contains(got.Body, "127.0.0.1:9") {
		t.Errorf("create with an unreachable server = %d %q, want 400 naming the server", got.Status, got.Body)
	}
	got = p.Do(t, "DELETE", "/dns/1.0.0.10.in-addr.arpa", nil)
	if got.Status != 400 || !strings.Contains(got.Body, "1.0.0.10.in-addr.arpa") {
		t.Errorf("delete with an unreachable server = %d %q, want 400 naming the record", got.Status, got.Body)
	}
}

type v2Entry struct {
	State    string         `json:"state"`
	Settings map[string]any `json:"settings"`
}

func v2(t *testing.T, p *proxytest.Proxy) v2Entry {
	t.Helper()
	got := p.Do(t, "GET", "/v2/features", nil)
	var all map[string]v2Entry
	if err := json.Unmarshal([]byte(got.Body), &all); err != nil {
		t.Fatalf("/v2/features: %v: %s", err, got.Body)
	}
	return all["dns"]
}

func TestProviderSelection(t *testing.T) {
	tests := []struct {
		name        string
		dnsYML      string
		wantState   string
		wantSetting any
		wantFailure string
	}{
		{"default is dns_nsupdate", ":enabled: true\n", "running", "dns_nsupdate", ""},
		{"explicit nsupdate", ":enabled: true\n:use_provider: dns_nsupdate\n", "running", "dns_nsupdate", ""},
		{"gss is not supported", ":enabled: true\n:use_provider: dns_nsupdate_gss\n", "failed", "dns_nsupdate_gss", "GSS-TSIG (Active Directory) updates are not supported"},
		{"unknown provider", ":enabled: true\n:use_provider: dns_dnscmd\n", "failed", "dns_dnscmd", `unknown provider "dns_dnscmd"`},
		{"two providers", ":enabled: true\n:use_provider: [dns_nsupdate, dns_nsupdate]\n", "failed", []any{"dns_nsupdate", "dns_nsupdate"}, "exactly one provider"},
		{"bad ttl", ":enabled: true\n:dns_ttl: 0\n", "failed", nil, ":dns_ttl: must be between 1"},
		{"disabled", ":enabled: false\n", "disabled", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proxytest.Start(t, "", map[string]string{"dns.yml": tt.dnsYML}, New())
			entry := v2(t, p)
			if entry.State != tt.wantState {
				t.Errorf("state = %q, want %q", entry.State, tt.wantState)
			}
			if got, _ := json.Marshal(entry.Settings["use_provider"]); string(got) != mustJSON(tt.wantSetting) {
				t.Errorf("use_provider = %s, want %s", got, mustJSON(tt.wantSetting))
			}
			_, err := p.Registry.StateOf("dns")
			if tt.wantFailure == "" && err != nil {
				t.Errorf("unexpected failure: %v", err)
			}
			if tt.wantFailure != "" && (err == nil || !strings.Contains(err.Error(), tt.wantFailure)) {
				t.Errorf("failure = %v, want it to contain %q", err, tt.wantFailure)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
