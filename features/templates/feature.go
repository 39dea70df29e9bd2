// Package templates is the templates feature (spec §5.4): installers and cloud-init on
// hosts being built fetch their kickstart, preseed or user-data through the proxy,
// which relays to Foreman with the host's address, so hosts need to reach only their
// proxy. It also tells Foreman (templateServer) which URL hosts use for the proxy.
package templates

import (
	"net/http"

	"github.com/smartproxy/smartproxy/internal/foremanclient"
	"github.com/smartproxy/smartproxy/registry"
)

// Feature serves /unattended and /userdata.
type Feature struct {
	templateURL string
	foreman     *foremanclient.Client
}

var (
	_ registry.Feature = (*Feature)(nil)
	_ registry.Exposer = (*Feature)(nil)
)

// New returns the templates feature; Configure gives it its settings.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "templates" }

// Configure reads settings.d/templates.yml (:template_url:, required, an absolute URL)
// and needs :foreman_url: in settings.yml. The Ruby proxy only logs a missing
// foreman_url and then reports running; here the feature fails.
func (f *Feature) Configure(env *registry.Env) error {
	s := env.Settings
	if s.String("template_url", "") == "" {
		s.Fail("template_url", "is required: the URL hosts use to reach this proxy, e.g. http://proxy.example.com:8000")
	} else {
		f.templateURL = s.URL("template_url")
	}
	client, err := foremanclient.Shared(env.Global)
	if err != nil {
		return err
	}
	f.foreman = client
	return nil
}

// ExposedSettings shows template_url in /v2/features (Foreman reads it per proxy).
func (f *Feature) ExposedSettings() map[string]any {
	return map[string]any{"template_url": f.templateURL}
}

func (f *Feature) Routes() []registry.Route {
	// Hosts being built have no client certificate: every route is public (spec §3).
	return []registry.Route{
		{Method: http.MethodGet, Path: "/unattended/templateServer", Handler: f.templateServer, Public: true},
		{Method: http.MethodGet, Path: "/unattended/:kind", Handler: f.unattended, Public: true},
		{Method: http.MethodPost, Path: "/unattended/:kind", Handler: f.unattended, Public: true},
		{Method: http.MethodGet, Path: "/unattended/:kind/:template", Handler: f.unattendedWithID, Public: true},
		{Method: http.MethodGet, Path: "/unattended/:kind/:template/*", Handler: f.hostgroupTemplate, Public: true},
		{Method: http.MethodGet, Path: "/userdata/:kind", Handler: f.userdata, Public: true},
		{Method: http.MethodGet, Path: "/userdata/:mac/:kind", Handler: f.userdata, Public: true},
	}
}
