// Package registry is the plugin contract and the lifecycle every feature goes through
// (spec §2.4, DESIGN §3): settings loaded and validated, providers resolved, started,
// and reported in /features, /v2/features and /version.
package registry

import (
	"context"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/metrics"
	"github.com/smartproxy/smartproxy/settings"
)

// Module is what plugins (features) and providers share.
type Module interface {
	// Name is the settings file name and the key in /v2/features ("dhcp", "dhcp_embedded").
	Name() string
	// Configure reads and validates settings from env.Settings. It must not start
	// servers or bind ports (check-config calls it too). Problems recorded on
	// env.Settings (Fail, or a getter's type error) fail the module even if it returns nil.
	Configure(env *Env) error
}

// Env is what a module gets to configure itself.
type Env struct {
	Global   *settings.Global
	Settings *settings.Section // settings.d/<name>.yml
	Log      *logrus.Entry     // tagged with the module name
}

// Feature is a plugin: a module with REST routes.
type Feature interface {
	Module
	// Routes are mounted while the feature is running, on the listeners :enabled: allows.
	Routes() []Route
}

// Route is one REST endpoint. Path uses ":name" captures (which may hold ':' and '.')
// and a trailing "*" wildcard, read with httpapi.PathParam / httpapi.Params. Paths are
// written without a trailing slash; the server treats "/x/" as "/x".
type Route struct {
	Method  string
	Path    string
	Handler http.HandlerFunc
	// Public routes skip the trusted_hosts and client-certificate checks
	// (spec §3: /unattended, /userdata, /register, /httpboot, /EFI).
	Public bool
	// MaxBodyBytes is this route's body limit when it takes more than the listener's
	// max_body_bytes (an upload); 0 uses max_body_bytes. Past it the server answers 413.
	MaxBodyBytes int64
}

// Optional interfaces a module may implement; the registry discovers them.

// Exposer lists settings shown in /v2/features (the Ruby expose_setting). It is called
// before Configure as well, for disabled modules: then only the keys matter (values are
// reported as null).
type Exposer interface {
	ExposedSettings() map[string]any
}

// Capable has a static list of capabilities.
type Capable interface {
	Capabilities() []string
}

// CapabilityProber computes capabilities at run time (e.g. probing installed tools).
// Results are cached by the registry and refreshed in the background; a slow probe
// never delays /v2/features.
type CapabilityProber interface {
	ProbeCapabilities(ctx context.Context) ([]string, error)
}

// Starter starts embedded servers, watchers and timers after every module of the
// group is configured. ctx is cancelled when the process stops.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper stops what Start started; it is called on shutdown and when another module
// of the same group fails to start.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Dependent names features that must be running for this one to run (registration
// requires templates).
type Dependent interface {
	Requires() []string
}

// DefaultEnabler gives a default for :enabled: other than false (logs is on by default).
type DefaultEnabler interface {
	DefaultEnabled() settings.Enabled
}

// Versioned modules report their own version in /version (external plugins do).
type Versioned interface {
	Version() string
}

// ProviderUser is a feature that delegates to providers chosen by :use_provider:.
type ProviderUser interface {
	// ProviderNames maps the configured :use_provider: (nil when unset) to the providers
	// to load, in order, and says whether v2 shows them as a list (true) or, when there
	// is one, as a string.
	ProviderNames(configured []string) (names []string, asList bool)
	// NewProvider returns a fresh provider, or nil for an unknown name.
	NewProvider(name string) Module
	// UseProviders hands the configured providers to the feature before anything starts.
	UseProviders(providers []Module) error
}

// MetricsReporter writes a module's counters for GET /metrics (Prometheus text format).
// It is called only while the module's feature is running.
type MetricsReporter interface {
	WriteMetrics(w *metrics.Writer)
}
