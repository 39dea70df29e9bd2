package relay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/relay"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/registry"
)

func TestShippedSettingsAreValid(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "settings.d", "relay.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.Start(t, "", map[string]string{"relay.yml": string(shipped)}, relay.New())
	if s := p.State("relay"); s != registry.Disabled {
		t.Fatalf("shipped relay.yml: relay is %s, want disabled", s)
	}
	// Enabled as shipped (queue_dir moved somewhere writable), it runs.
	enabled := strings.Replace(string(shipped), ":enabled: false", ":enabled: true", 1)
	enabled = strings.Replace(enabled, "/var/lib/foreman-proxy/relay", t.TempDir(), 1)
	p = proxytest.Start(t, "", map[string]string{"relay.yml": enabled}, relay.New())
	if s, err := p.Registry.StateOf("relay"); s != registry.Running {
		t.Fatalf("shipped relay.yml enabled: relay is %s: %v", s, err)
	}
	if len(p.Registry.Problems) != 0 {
		t.Fatalf("shipped relay.yml has problems: %v", p.Registry.Problems)
	}
}

func TestBadSettingsFailTheFeature(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{":enabled: true\n", ":next_hop_url: is required"},
		{":enabled: true\n:next_hop_url: ''\n", ":next_hop_url: is required"},
		{":enabled: true\n:next_hop_url: dmz-relay:8443\n", ":next_hop_url:"},
		{":enabled: true\n:next_hop_url: ftp://dmz-relay\n", "must be an http or https URL"},
		{":enabled: true\n:next_hop_url: https://dmz\n:allow: [enc, hosts]\n", `"hosts" is not one of enc, facts, reports, unattended, userdata, register`},
		{":enabled: true\n:next_hop_url: https://dmz\n:trusted_relays: [10.0.0.0/33]\n", ":trusted_relays:"},
		{":enabled: true\n:next_hop_url: https://dmz\n:queue_max_entries: 0\n", ":queue_max_entries: must be a positive integer"},
		{":enabled: true\n:next_hop_url: https://dmz\n:retry_initial_ms: 5000\n:retry_max_ms: 100\n", ":retry_max_ms: must not be less than :retry_initial_ms:"},
		{":enabled: true\n:next_hop_url: https://dmz\n:downstream_proxies: [a]\n", ":downstream_proxies: must be a map"},
		{":enabled: true\n:next_hop_url: https://dmz\n:downstream_proxies:\n  'a/b': https://x\n", `entry "a/b"`},
		{":enabled: true\n:next_hop_url: https://dmz\n:next_hop_ssl_cert: /nonexistent.pem\n", ":next_hop_ssl_cert: names a file that cannot be read"},
	}
	for _, c := range cases {
		yaml := c.yaml + ":queue_dir: " + t.TempDir() + "\n"
		p := proxytest.Start(t, "", map[string]string{"relay.yml": yaml}, relay.New())
		s, err := p.Registry.StateOf("relay")
		if s != registry.Failed || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: relay is %s (%v), want failed with %q", c.yaml, s, err, c.want)
		}
	}
}
