// Package puppet is the puppet feature (spec §5.5): Puppet environments and classes
// read from a Puppet Server's v3 API for Foreman's class import. Its one provider,
// puppet_proxy_puppet_api, is forced whatever :use_provider: says (the other Ruby
// providers were removed upstream, spec §8).
package puppet

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/smartproxy/smartproxy/registry"
)

// ProviderName is the only provider, always used.
const ProviderName = "puppet_proxy_puppet_api"

// backend is what the REST handlers need from the provider.
type backend interface {
	Environments(ctx context.Context) ([]Environment, error)
	// Classes returns the parsed environment_classes reply; errEnvironmentNotFound and
	// errTooSlow are the two failures the API maps to their own status.
	Classes(ctx context.Context, environment string) (*ClassListing, error)
}

// Feature serves /puppet.
type Feature struct {
	backend backend
}

var (
	_ registry.Feature      = (*Feature)(nil)
	_ registry.ProviderUser = (*Feature)(nil)
)

// New returns the puppet feature.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "puppet" }

// Configure: puppet.yml holds only :enabled: (and a :use_provider: that is ignored).
func (*Feature) Configure(*registry.Env) error { return nil }

// ProviderNames forces the Puppet Server v3 API provider; v2 shows it as a list, as
// the Ruby proxy does after rewriting the setting.
func (*Feature) ProviderNames([]string) ([]string, bool) {
	return []string{ProviderName}, true
}

func (*Feature) NewProvider(name string) registry.Module {
	if name == ProviderName {
		return newAPIProvider()
	}
	return nil
}

func (f *Feature) UseProviders(providers []registry.Module) error {
	for _, p := range providers {
		if b, ok := p.(backend); ok {
			f.backend = b
			return nil
		}
	}
	return errors.New("puppet: no usable provider")
}

func (f *Feature) Routes() []registry.Route {
	return []registry.Route{
		{Method: http.MethodPost, Path: "/puppet/run", Handler: f.run},
		{Method: http.MethodGet, Path: "/puppet/environments", Handler: f.listEnvironments},
		{Method: http.MethodGet, Path: "/puppet/environments/:environment", Handler: f.showEnvironment},
		{Method: http.MethodGet, Path: "/puppet/environments/:environment/classes", Handler: f.classes},
		{Method: http.MethodGet, Path: "/puppet/environments/:environment/classes_and_errors", Handler: f.classesAndErrors},
	}
}

// errEnvironmentNotFound is the Puppet Server not knowing an environment.
var errEnvironmentNotFound = errors.New("environment not found")

// errTooSlow is the client-side wait running out while the Puppet Server still works.
var errTooSlow = errors.New("Puppet is taking too long to respond, please try again later.")

func notFoundMessage(environment string) string {
	return fmt.Sprintf("Could not find environment '%s'", environment)
}
