package puppet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// The shipped examples load cleanly: puppet.yml is disabled, and the provider file,
// once enabled, has no unknown keys and can only fail on files absent from this box.
func TestShippedExamples(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "settings.d", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	feature, provider := read("puppet.yml"), read("puppet_proxy_puppet_api.yml")
	p := proxytest.Start(t, "", map[string]string{"puppet.yml": feature, "puppet_proxy_puppet_api.yml": provider}, New())
	if s := p.State("puppet"); s != "disabled" || len(p.Registry.Problems) > 0 {
		t.Fatalf("shipped puppet.yml: %s %v", s, p.Registry.Problems)
	}
	enabled := strings.Replace(feature, ":enabled: false", ":enabled: true", 1)
	p = proxytest.Start(t, "", map[string]string{"puppet.yml": enabled, "puppet_proxy_puppet_api.yml": provider}, New())
	for _, problem := range p.Registry.Problems {
		if !strings.Contains(problem, ":puppet_ssl_ca: names a file that cannot be read") {
			t.Errorf("shipped puppet_proxy_puppet_api.yml: %s", problem)
		}
	}
}
