// Package dns is the DNS feature (spec §5.2): Foreman creates and deletes A, AAAA,
// PTR, CNAME and SRV records through it. The records live in a provider chosen by
// :use_provider: — dns_nsupdate (RFC 2136 + TSIG to a server such as BIND, the
// default) or dns_embedded (our own authoritative server).
package dns

import (
	"fmt"
	"net/http"

	"github.com/smartproxy/smartproxy/registry"
)

// Feature serves /dns.
type Feature struct {
	ttl      uint32
	provider Provider
}

var (
	_ registry.Feature      = (*Feature)(nil)
	_ registry.ProviderUser = (*Feature)(nil)
)

// New returns the dns feature; its provider is chosen when settings are loaded.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "dns" }

// Configure reads dns.yml: :dns_ttl: (seconds, default 86400) is the TTL of every
// record created.
func (f *Feature) Configure(env *registry.Env) error {
	ttl := env.Settings.Int("dns_ttl", 86400)
	if ttl < 1 || ttl > 1<<31-1 {
		env.Settings.Fail("dns_ttl", "must be between 1 and 2147483647 seconds, got %d", ttl)
	}
	f.ttl = uint32(ttl)
	return nil
}

func (f *Feature) Routes() []registry.Route {
	return []registry.Route{
		{Method: http.MethodPost, Path: "/dns", Handler: f.create},
		{Method: http.MethodDelete, Path: "/dns/:value", Handler: f.remove},
		{Method: http.MethodDelete, Path: "/dns/:value/:type", Handler: f.remove},
	}
}

// ProviderNames: dns_nsupdate unless :use_provider: says otherwise.
func (*Feature) ProviderNames(configured []string) ([]string, bool) {
	if len(configured) == 0 {
		return []string{providerNsupdate}, false
	}
	return configured, false
}

func (*Feature) NewProvider(name string) registry.Module { return newProvider(name) }

// UseProviders takes the one provider that holds the records.
func (f *Feature) UseProviders(providers []registry.Module) error {
	if len(providers) != 1 {
		names := make([]string, len(providers))
		for i, p := range providers {
			names[i] = p.Name()
		}
		return fmt.Errorf("dns: :use_provider: must name exactly one provider, got %v", names)
	}
	p, ok := providers[0].(Provider)
	if !ok {
		return fmt.Errorf("dns: %s cannot manage records", providers[0].Name())
	}
	f.provider = p
	return nil
}
