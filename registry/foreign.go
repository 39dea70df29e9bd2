package registry

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/smartproxy/smartproxy/settings"
)

// warnForeignFeatures names the settings files that enable a feature this binary does
// not have. A directory the Ruby installer wrote may enable bmc, realm or facts: the
// Ruby proxy would serve them, this one cannot, and Foreman drops them from the proxy
// at its next refresh. Provider files (dhcp_embedded.yml...) and disabled features
// are left alone.
func (r *Registry) warnForeignFeatures() {
	if r.global == nil {
		return
	}
	paths, err := filepath.Glob(filepath.Join(r.global.SettingsDirectory, "*.yml"))
	if err != nil {
		return
	}
	sort.Strings(paths)
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".yml")
		if name == "settings" || r.byName[name] != nil || r.isProvider(name) {
			continue
		}
		sec, err := settings.Load(path)
		if err != nil {
			continue
		}
		if !sec.Enabled(settings.EnabledNone).Any() || sec.Err() != nil {
			continue
		}
		msg := fmt.Sprintf("%s enables %s, which this proxy does not have: Foreman will not see it", path, name)
		r.log.Warn(msg)
		r.Problems = append(r.Problems, "warning: "+msg)
	}
}

// isProvider reports whether name is a provider some feature knows.
func (r *Registry) isProvider(name string) bool {
	for _, g := range r.groups {
		if pu, ok := g.feature.(ProviderUser); ok && pu.NewProvider(name) != nil {
			return true
		}
	}
	return false
}
