package puppetca

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// The shipped examples load cleanly: puppetca.yml is disabled; enabled, the provider
// files have no unknown keys and can only fail on files (or the proxy key) absent here.
func TestShippedExamples(t *testing.T) {
	files := map[string]string{}
	for _, name := range []string{"puppetca.yml", "puppetca_http_api.yml", "puppetca_hostname_whitelisting.yml", "puppetca_token_whitelisting.yml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "settings.d", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	p := proxytest.Start(t, "", files, New())
	if s := p.State("puppetca"); s != "disabled" || len(p.Registry.Problems) > 0 {
		t.Fatalf("shipped puppetca.yml: %s %v", s, p.Registry.Problems)
	}
	for _, provider := range []string{HostnameProvider, TokenProvider} {
		enabled := strings.Replace(files["puppetca.yml"], ":enabled: false", ":enabled: true", 1)
		enabled = strings.Replace(enabled, ":use_provider: "+HostnameProvider, ":use_provider: "+provider, 1)
		variant := map[string]string{"puppetca.yml": enabled}
		for k, v := range files {
			if k != "puppetca.yml" {
				variant[k] = v
			}
		}
		p = proxytest.Start(t, "", variant, New())
		for _, problem := range p.Registry.Problems {
			absentHere := strings.Contains(problem, ":puppet_ssl_ca: names a file that cannot be read") ||
				strings.Contains(problem, ":certificate: is required when settings.yml has no :ssl_private_key:")
			if !absentHere {
				t.Errorf("%s: %s", provider, problem)
			}
		}
	}
}
