package puppet

import (
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

func TestSettingsFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		provider string
		want     string
	}{
		"no puppet_url":  {"", ":puppet_url: is required"},
		"bad puppet_url": {":puppet_url: puppet.example.com\n", ":puppet_url: must be a URL"},
		"unreadable CA":  {":puppet_url: https://puppet.example.com:8140\n:puppet_ssl_ca: /nonexistent/ca.pem\n", ":puppet_ssl_ca: names a file that cannot be read"},
		"zero timeout":   {":puppet_url: http://puppet.example.com:8140\n:api_timeout: 0\n", ":api_timeout: must be a positive number"},
		"half a keypair": {":puppet_url: https://puppet.example.com:8140\n:puppet_ssl_ca: /etc/hostname\n:puppet_ssl_cert: /etc/hostname\n", ":puppet_ssl_cert: and :puppet_ssl_key: must be set together"},
	} {
		t.Run(name, func(t *testing.T) {
			p := proxytest.Start(t, "", map[string]string{"puppet.yml": ":enabled: true\n", "puppet_proxy_puppet_api.yml": tc.provider}, New())
			state, err := p.Registry.StateOf("puppet")
			if state != "failed" || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("state %s, error %v; want failed with %q", state, err, tc.want)
			}
			if r := p.Do(t, http.MethodGet, "/puppet/environments", nil); r.Status != 404 {
				t.Errorf("a failed feature answered %d", r.Status)
			}
		})
	}
}

func TestHTTPPuppetURLNeedsNoCA(t *testing.T) {
	p := proxytest.Start(t, "", map[string]string{
		"puppet.yml":                  ":enabled: true\n:use_provider: puppet_proxy_legacy\n",
		"puppet_proxy_puppet_api.yml": ":puppet_url: http://127.0.0.1:1\n",
	}, New())
	if s := p.State("puppet"); s != "running" {
		t.Fatalf("puppet is %s", s)
	}
}
