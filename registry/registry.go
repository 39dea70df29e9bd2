package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/settings"
)

// State is a module's lifecycle state as shown in /v2/features (spec §2.4).
type State string

const (
	Uninitialized State = "uninitialized"
	Starting      State = "starting"
	Running       State = "running"
	Disabled      State = "disabled"
	Failed        State = "failed"
)

// FailureRecorder keeps the failure message of each module (the log buffer's
// failed_modules, shown by GET /logs).
type FailureRecorder interface {
	RecordFailure(module, message string)
}

// Registry drives the features of one process through their lifecycle.
type Registry struct {
	global   *settings.Global
	log      *logrus.Logger
	failures FailureRecorder
	version  string
	groups   []*group
	byName   map[string]*group
	// Problems collects every settings problem found by Load, for check-config.
	Problems []string
}

// group is a feature plus its providers: they share one fate.
type group struct {
	feature   Feature
	providers []Module
	enabled   settings.Enabled
	caps      capabilityCache

	mu          sync.RWMutex
	state       State
	err         error
	useProvider any // nil, a string or a list of names, as v2 shows it
	exposed     map[string]any
	started     []Module
}

// Options configures a Registry.
type Options struct {
	Global   *settings.Global
	Log      *logrus.Logger
	Failures FailureRecorder
	// Version is the proxy version ("3.11.0-develop" style); modules report it without "-develop".
	Version string
}

// New registers features in the order given (the start order, dependencies first).
func New(opts Options, features ...Feature) *Registry {
	if opts.Log == nil {
		opts.Log = logrus.StandardLogger()
	}
	r := &Registry{global: opts.Global, log: opts.Log, failures: opts.Failures, version: opts.Version, byName: map[string]*group{}}
	for _, f := range features {
		g := &group{feature: f, state: Uninitialized}
		r.groups = append(r.groups, g)
		r.byName[f.Name()] = g
	}
	return r
}

// Load reads and validates every feature's settings and its providers' (steps 1-4 of
// spec §2.4). Afterwards each feature is starting, disabled or failed.
func (r *Registry) Load() {
	for _, g := range r.groups {
		r.load(g)
	}
	for _, g := range r.groups {
		r.checkDependencies(g, Starting)
	}
	r.warnForeignFeatures()
}

func (r *Registry) load(g *group) {
	name := g.feature.Name()
	log := r.log.WithField("module", name)
	sec, err := r.loadModule(name)
	if err != nil {
		r.fail(g, err)
		return
	}
	def := settings.EnabledNone
	if d, ok := g.feature.(DefaultEnabler); ok {
		def = d.DefaultEnabled()
	}
	g.enabled = sec.Enabled(def)
	if err := sec.Err(); err != nil {
		r.fail(g, err)
		return
	}
	if !g.enabled.Any() {
		g.mu.Lock()
		g.state = Disabled
		g.exposed = nullValues(exposed(g.feature))
		if _, ok := g.feature.(ProviderUser); ok {
			g.exposed["use_provider"] = nil
		}
		g.mu.Unlock()
		sec.Raw("use_provider")
		return
	}
	if !sec.Found {
		log.Warnf("Couldn't find settings file %s, using default settings", sec.File)
	}
	if err := r.configureFeature(g, sec, log); err != nil {
		r.fail(g, err)
		return
	}
	warn := func(msg string) { log.Warn(msg); r.Problems = append(r.Problems, "warning: "+msg) }
	sec.WarnUnknown(warn)
	g.mu.Lock()
	g.state = Starting
	g.exposed = exposed(g.feature)
	for _, p := range g.providers {
		for k, v := range exposed(p) {
			g.exposed[k] = v
		}
	}
	if _, ok := g.feature.(ProviderUser); ok {
		g.exposed["use_provider"] = g.useProvider
	}
	g.mu.Unlock()
}

func (r *Registry) configureFeature(g *group, sec *settings.Section, log *logrus.Entry) error {
	pu, usesProviders := g.feature.(ProviderUser)
	var configured []string
	configuredAsList := false
	if usesProviders {
		raw, _ := sec.Raw("use_provider")
		_, configuredAsList = raw.([]any)
		configured = sec.StringList("use_provider", nil)
	}
	env := &Env{Global: r.global, Settings: sec, Log: log}
	if err := g.feature.Configure(env); err != nil {
		return errors.Join(err, sec.Err())
	}
	if err := sec.Err(); err != nil {
		return err
	}
	if !usesProviders {
		return nil
	}
	names, asList := pu.ProviderNames(configured)
	if len(names) == 0 {
		sec.Fail("use_provider", "names no provider")
		return sec.Err()
	}
	if asList || configuredAsList || len(names) > 1 {
		g.useProvider = names
	} else {
		g.useProvider = names[0]
	}
	for _, name := range names {
		p := pu.NewProvider(name)
		if p == nil {
			return fmt.Errorf("%s: :use_provider: unknown provider %q", sec.File, name)
		}
		g.providers = append(g.providers, p)
	}
	for _, p := range g.providers {
		psec, err := r.loadModule(p.Name())
		if err != nil {
			return err
		}
		for _, k := range psec.Keys() {
			if sec.Has(k) && k != "enabled" {
				return fmt.Errorf("%s: :%s: is already set in %s; a provider may not redefine its feature's settings", psec.File, k, sec.File)
			}
		}
		plog := r.log.WithField("module", p.Name())
		if !psec.Found {
			plog.Warnf("Couldn't find settings file %s, using default settings", psec.File)
		}
		if err := p.Configure(&Env{Global: r.global, Settings: psec, Log: plog}); err != nil {
			return errors.Join(err, psec.Err())
		}
		if err := psec.Err(); err != nil {
			return err
		}
		psec.Raw("enabled")
		psec.WarnUnknown(func(msg string) { plog.Warn(msg); r.Problems = append(r.Problems, "warning: "+msg) })
	}
	return pu.UseProviders(g.providers)
}

// loadModule reads settings.d/<name>.yml; the shared-state keys it leaves out
// come from settings.yml (a global etcd backend).
func (r *Registry) loadModule(name string) (*settings.Section, error) {
	sec, err := settings.Load(r.global.ModuleFile(name))
	if err == nil {
		sec.Inherit(r.global.StateDefaults, settings.StateKeys)
	}
	return sec, err
}

// checkDependencies fails a feature whose required features are not in want state (or running).
func (r *Registry) checkDependencies(g *group, want State) {
	d, ok := g.feature.(Dependent)
	if !ok || !g.isState(want, Running) {
		return
	}
	for _, req := range d.Requires() {
		dep := r.byName[req]
		if dep == nil || !dep.isState(want, Running) {
			state := "not registered"
			if dep != nil {
				state = string(dep.State())
			}
			r.stopGroup(context.Background(), g)
			r.fail(g, fmt.Errorf("%s requires the %s feature, which is %s", g.feature.Name(), req, state))
			return
		}
	}
}

// Start starts every loaded feature group (step 5), dependencies in registration order.
// A group whose start fails is stopped and marked failed; the others keep going.
func (r *Registry) Start(ctx context.Context) {
	for _, g := range r.groups {
		if g.State() != Starting {
			continue
		}
		if err := r.startGroup(ctx, g); err != nil {
			r.stopGroup(ctx, g)
			r.fail(g, err)
			continue
		}
		g.setState(Running)
		r.log.WithField("module", g.feature.Name()).Infof("Finished initialization of module '%s'", g.feature.Name())
	}
	for _, g := range r.groups {
		r.checkDependencies(g, Running)
	}
}

func (r *Registry) startGroup(ctx context.Context, g *group) error {
	members := append(append([]Module{}, g.providers...), g.feature)
	for _, m := range members {
		s, ok := m.(Starter)
		if !ok {
			continue
		}
		if err := s.Start(ctx); err != nil {
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
		g.mu.Lock()
		g.started = append(g.started, m)
		g.mu.Unlock()
	}
	return nil
}

// stopGroup stops what startGroup started, in reverse order.
func (r *Registry) stopGroup(ctx context.Context, g *group) {
	g.mu.Lock()
	started := g.started
	g.started = nil
	g.mu.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		if s, ok := started[i].(Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				r.log.WithField("module", started[i].Name()).Errorf("stopping %s: %v", started[i].Name(), err)
			}
		}
	}
}

// Stop stops every running group, last started first.
func (r *Registry) Stop(ctx context.Context) {
	for i := len(r.groups) - 1; i >= 0; i-- {
		r.stopGroup(ctx, r.groups[i])
	}
}

// fail marks a group failed and records why for every member (spec §2.4).
func (r *Registry) fail(g *group, err error) {
	names := []string{g.feature.Name()}
	for _, p := range g.providers {
		names = append(names, p.Name())
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	msg := fmt.Sprintf("Disabling all modules in the group [%s] due to a failure in one of them: %v", strings.Join(quoted, ", "), err)
	r.log.WithField("module", g.feature.Name()).Error(msg)
	r.Problems = append(r.Problems, "error: "+err.Error())
	if r.failures != nil {
		for _, n := range names {
			r.failures.RecordFailure(n, msg)
		}
	}
	g.mu.Lock()
	g.state = Failed
	g.err = err
	if g.exposed == nil {
		g.exposed = nullValues(exposed(g.feature))
		if _, ok := g.feature.(ProviderUser); ok {
			g.exposed["use_provider"] = g.useProvider
		}
	}
	g.mu.Unlock()
}

func (g *group) State() State {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.state
}

func (g *group) setState(s State) {
	g.mu.Lock()
	g.state = s
	g.mu.Unlock()
}

func (g *group) isState(states ...State) bool {
	cur := g.State()
	for _, s := range states {
		if cur == s {
			return true
		}
	}
	return false
}

func exposed(m Module) map[string]any {
	out := map[string]any{}
	if e, ok := m.(Exposer); ok {
		for k, v := range e.ExposedSettings() {
			out[k] = v
		}
	}
	return out
}

func nullValues(m map[string]any) map[string]any {
	for k := range m {
		m[k] = nil
	}
	return m
}

// Names lists the registered features in registration order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.groups))
	for i, g := range r.groups {
		out[i] = g.feature.Name()
	}
	return out
}

// StateOf returns a feature's state and its failure (nil unless failed).
func (r *Registry) StateOf(name string) (State, error) {
	g := r.byName[name]
	if g == nil {
		return Uninitialized, fmt.Errorf("no feature %q", name)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.state, g.err
}

// Serves reports whether name's routes answer on the https (or http) listener now:
// it is running and :enabled: allows that listener.
func (r *Registry) Serves(name string, https bool) bool {
	g := r.byName[name]
	if g == nil || g.State() != Running {
		return false
	}
	if https {
		return g.enabled.HTTPS()
	}
	return g.enabled.HTTP()
}

// FeatureRoute is a route and the feature that owns it.
type FeatureRoute struct {
	Feature string
	Route
}

// Routes lists every feature's routes, whatever its state; the server checks Serves per request.
func (r *Registry) Routes() []FeatureRoute {
	var out []FeatureRoute
	for _, g := range r.groups {
		for _, rt := range g.feature.Routes() {
			out = append(out, FeatureRoute{Feature: g.feature.Name(), Route: rt})
		}
	}
	return out
}

// Uses reports whether module is feature itself or one of the providers its
// :use_provider: chose (after Load).
func (r *Registry) Uses(feature, module string) bool {
	g := r.byName[feature]
	if g == nil {
		return false
	}
	if module == feature {
		return true
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, p := range g.providers {
		if p.Name() == module {
			return true
		}
	}
	return false
}

// Lookup returns a registered feature by name.
func (r *Registry) Lookup(name string) (Feature, bool) {
	g := r.byName[name]
	if g == nil {
		return nil, false
	}
	return g.feature, true
}

// sortedUnique sorts, drops empty strings and duplicates.
func sortedUnique(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if s != "" && (i == 0 || s != in[i-1]) {
			out = append(out, s)
		}
	}
	return out
}
