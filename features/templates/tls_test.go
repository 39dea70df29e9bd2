package templates_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/fakeforeman"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

func TestTLSToForeman(t *testing.T) {
	ca := testpki.NewCA(t, "foreman-ca")
	other := testpki.NewCA(t, "other-ca")
	foremanOnly := ca.IssueLoopback(t, "proxy-for-foreman.test")
	proxyOwn := ca.IssueLoopback(t, "proxy-own.test")
	foreman := fakeforeman.Start(t, fakeforeman.Options{CA: ca, RequireClientCert: true})

	ownTrio := ":ssl_ca_file: " + ca.CAFile + "\n:ssl_certificate: " + proxyOwn.CertFile + "\n:ssl_private_key: " + proxyOwn.KeyFile + "\n"
	cases := []struct {
		name     string
		global   string
		wantCN   string // "" = the relay must fail
		wantFail string
	}{
		{"foreman_ssl_* win over ssl_*",
			ownTrio + ":foreman_ssl_ca: " + ca.CAFile + "\n:foreman_ssl_cert: " + foremanOnly.CertFile + "\n:foreman_ssl_key: " + foremanOnly.KeyFile + "\n",
			"proxy-for-foreman.test", ""},
		{"ssl_* are the fallback", ownTrio, "proxy-own.test", ""},
		{"CA from ssl_ca_file, certificate from foreman_ssl_*",
			":ssl_ca_file: " + ca.CAFile + "\n:foreman_ssl_cert: " + foremanOnly.CertFile + "\n:foreman_ssl_key: " + foremanOnly.KeyFile + "\n",
			"proxy-for-foreman.test", ""},
		{"Foreman's certificate not from the configured CA",
			":foreman_ssl_ca: " + other.CAFile + "\n:foreman_ssl_cert: " + foremanOnly.CertFile + "\n:foreman_ssl_key: " + foremanOnly.KeyFile + "\n",
			"", "certificate signed by unknown authority"},
		{"no CA configured: system roots, which do not know the test CA",
			":foreman_ssl_cert: " + foremanOnly.CertFile + "\n:foreman_ssl_key: " + foremanOnly.KeyFile + "\n",
			"", "certificate signed by unknown authority"},
		{"no client certificate", ":foreman_ssl_ca: " + ca.CAFile + "\n", "", "certificate required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(foreman.Requests())
			p := startProxy(t, foreman.URL, tc.global)
			got := hostRequest{path: "/unattended/provision?token=tls"}.send(t, p)
			if tc.wantCN == "" {
				if got.status != http.StatusBadRequest || !strings.Contains(got.body, tc.wantFail) {
					t.Errorf("got %d %q, want 400 naming %q", got.status, got.body, tc.wantFail)
				}
				if len(foreman.Requests()) != before {
					t.Errorf("Foreman answered a request it should never have got")
				}
				return
			}
			if got.status != http.StatusOK {
				t.Fatalf("got %d %q", got.status, got.body)
			}
			if seen := foreman.Last(t); seen.ClientCN != tc.wantCN || seen.Query.Get("token") != "tls" {
				t.Errorf("Foreman saw client %q with query %q, want %q", seen.ClientCN, seen.RawQuery, tc.wantCN)
			}
		})
	}
}
