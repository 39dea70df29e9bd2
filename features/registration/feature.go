// Package registration is the registration feature (spec §5.9): hosts run Foreman's
// global registration script through the proxy (GET /register) and register themselves
// with it (POST /register), for networks where only the proxy can reach Foreman.
package registration

import (
	"net/http"
	"strings"

	"github.com/smartproxy/smartproxy/internal/foremanclient"
	"github.com/smartproxy/smartproxy/registry"
)

// Feature serves /register.
type Feature struct {
	registrationURL string // "" = derive from each request
	foreman         *foremanclient.Client
}

var (
	_ registry.Feature   = (*Feature)(nil)
	_ registry.Exposer   = (*Feature)(nil)
	_ registry.Dependent = (*Feature)(nil)
)

// New returns the registration feature; Configure gives it its settings.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "registration" }

// Requires templates, as the Ruby proxy does: both relay to Foreman for hosts.
func (*Feature) Requires() []string { return []string{"templates"} }

// Configure reads settings.d/registration.yml (:registration_url:, optional) and needs
// :foreman_url: in settings.yml.
func (f *Feature) Configure(env *registry.Env) error {
	f.registrationURL = strings.TrimRight(env.Settings.URL("registration_url"), "/")
	client, err := foremanclient.Shared(env.Global)
	if err != nil {
		return err
	}
	f.foreman = client
	return nil
}

// ExposedSettings shows registration_url in /v2/features: null when unset.
func (f *Feature) ExposedSettings() map[string]any {
	if f.registrationURL == "" {
		return map[string]any{"registration_url": nil}
	}
	return map[string]any{"registration_url": f.registrationURL}
}

func (f *Feature) Routes() []registry.Route {
	// Hosts registering have no client certificate yet: public (spec §3).
	return []registry.Route{
		{Method: http.MethodGet, Path: "/register", Handler: f.globalRegister, Public: true},
		{Method: http.MethodPost, Path: "/register", Handler: f.hostRegister, Public: true},
	}
}
