package dns

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// TestShippedSettings: the example files in settings.d are valid as shipped, with no
// key this code would ignore.
func TestShippedSettings(t *testing.T) {
	f := New()
	for _, tc := range []struct {
		file   string
		module registry.Module
	}{
		{"dns.yml", f},
		{"dns_nsupdate.yml", newProvider(providerNsupdate)},
		{"dns_embedded.yml", newProvider(providerEmbedded)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sec, err := settings.Load(filepath.Join("..", "..", "settings.d", tc.file))
			if err != nil || !sec.Found {
				t.Fatalf("loading %s: found=%v, %v", tc.file, sec != nil && sec.Found, err)
			}
			sec.Raw("enabled")
			if tc.file == "dns.yml" {
				if got := sec.StringList("use_provider", nil); len(got) != 1 || got[0] != providerEmbedded {
					t.Errorf(":use_provider: = %v, want the unprivileged dns_embedded", got)
				}
			}
			env := &registry.Env{Global: &settings.Global{DNSResolvTimeouts: []int{5, 8, 13}}, Settings: sec, Log: logrus.NewEntry(logrus.New())}
			if err := errors.Join(tc.module.Configure(env), sec.Err()); err != nil {
				t.Fatal(err)
			}
			if unknown := sec.Unread(); len(unknown) > 0 {
				t.Errorf("keys nobody reads: %v", unknown)
			}
		})
	}
	if f.ttl != 86400 {
		t.Errorf("default :dns_ttl: = %d, want 86400", f.ttl)
	}
}
