// Package puppetca is the puppetca feature (spec §5.6): Puppet certificates listed,
// signed and cleaned through the Puppet CA v1 HTTP API (provider puppetca_http_api,
// always used), and autosigning by one of two providers: a hostname list in Puppet's
// autosign file (puppetca_hostname_whitelisting) or one-time signed tokens checked by
// Puppet Server's policy-based autosign hook (puppetca_token_whitelisting, with the
// `smart-proxy puppetca-validate` command as that hook).
package puppetca

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/smartproxy/smartproxy/registry"
)

// Provider names as written in :use_provider:.
const (
	HTTPAPIProvider  = "puppetca_http_api"
	HostnameProvider = "puppetca_hostname_whitelisting"
	TokenProvider    = "puppetca_token_whitelisting"
)

// certificateAuthority is what the REST handlers need from puppetca_http_api.
type certificateAuthority interface {
	List(ctx context.Context) (map[string]certificateStatus, error)
	Sign(ctx context.Context, certname string) error
	Clean(ctx context.Context, certname string) error
}

// autosigner manages the names or tokens that let certificates be signed unattended.
type autosigner interface {
	List() ([]string, error)
	// Add allows certname; ttlMinutes <= 0 means the provider's default. The reply is
	// sent as JSON when not nil.
	Add(certname string, ttlMinutes int) (reply any, err error)
	Remove(certname string) error
}

// csrValidator is an autosigner that answers Puppet Server's policy-based autosign hook.
type csrValidator interface {
	ValidateCSR(ctx context.Context, csr *signingRequest) (bool, error)
}

// errNotPresent is a certname unknown to the CA or the autosign list (404).
type errNotPresent struct{ msg string }

func (e *errNotPresent) Error() string { return e.msg }

// Feature serves /puppet/ca.
type Feature struct {
	ca       certificateAuthority
	autosign autosigner
}

var (
	_ registry.Feature      = (*Feature)(nil)
	_ registry.ProviderUser = (*Feature)(nil)
)

// New returns the puppetca feature.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "puppetca" }

// Configure: puppetca.yml holds :enabled: and :use_provider:, both read by the registry.
func (*Feature) Configure(*registry.Env) error { return nil }

// ProviderNames picks the autosign provider (hostname list by default) and always
// appends the CA HTTP API provider, so /v2/features shows a list.
func (*Feature) ProviderNames(configured []string) ([]string, bool) {
	names := []string{}
	for _, n := range configured {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 || (len(names) == 1 && names[0] == HTTPAPIProvider) {
		names = append([]string{HostnameProvider}, names...)
	}
	if !slices.Contains(names, HTTPAPIProvider) {
		names = append(names, HTTPAPIProvider)
	}
	return names, true
}

func (*Feature) NewProvider(name string) registry.Module {
	switch name {
	case HTTPAPIProvider:
		return newHTTPAPIProvider()
	case HostnameProvider:
		return newHostnameAutosigner()
	case TokenProvider:
		return newTokenAutosigner()
	}
	return nil
}

// UseProviders takes the CA provider and exactly one autosign provider.
func (f *Feature) UseProviders(providers []registry.Module) error {
	var autosigners []string
	for _, p := range providers {
		if ca, ok := p.(certificateAuthority); ok {
			f.ca = ca
		}
		if a, ok := p.(autosigner); ok {
			f.autosign = a
			autosigners = append(autosigners, p.Name())
		}
	}
	if f.ca == nil {
		return errors.New("puppetca: the puppetca_http_api provider is missing")
	}
	if len(autosigners) != 1 {
		return fmt.Errorf("puppetca: :use_provider: must name one autosign provider (%s or %s), got %v",
			HostnameProvider, TokenProvider, autosigners)
	}
	return nil
}

// Routes: the literal "autosign" and "validate" segments win over the :certname capture.
func (f *Feature) Routes() []registry.Route {
	return []registry.Route{
		{Method: http.MethodGet, Path: "/puppet/ca", Handler: f.list},
		{Method: http.MethodGet, Path: "/puppet/ca/autosign", Handler: f.autosignList},
		{Method: http.MethodPost, Path: "/puppet/ca/autosign/:certname", Handler: f.autosignAdd},
		{Method: http.MethodDelete, Path: "/puppet/ca/autosign/:certname", Handler: f.autosignRemove},
		{Method: http.MethodPost, Path: "/puppet/ca/validate", Handler: f.validate, MaxBodyBytes: maxCSR},
		{Method: http.MethodPost, Path: "/puppet/ca/:certname", Handler: f.sign},
		{Method: http.MethodDelete, Path: "/puppet/ca/:certname", Handler: f.clean},
	}
}
