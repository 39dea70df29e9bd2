package puppetca

import "github.com/smartproxy/smartproxy/internal/etcdstate"

// exposedBackend is the autosign providers' /v2/features setting: the effective
// state backend, after settings.yml's global :state_backend: and the provider's own.
func exposedBackend(state etcdstate.Config) map[string]any {
	if state.Backend == "" {
		return map[string]any{"state_backend": nil} // not configured yet
	}
	return map[string]any{"state_backend": state.Backend}
}

// ExposedSettings shows where the autosign entries are kept.
func (a *hostnameAutosigner) ExposedSettings() map[string]any { return exposedBackend(a.state) }

// ExposedSettings shows where the tokens are kept.
func (a *tokenAutosigner) ExposedSettings() map[string]any { return exposedBackend(a.state) }
