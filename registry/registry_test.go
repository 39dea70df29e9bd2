package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/settings"
)

// fake is a configurable feature or provider.
type fake struct {
	name      string
	startErr  error
	exposeKey string
	exposed   string
	static    []string
	requires  []string
	providers map[string]*fake
	asList    bool
	forced    []string

	started, stopped atomic.Int32
	used             []Module
}

func (f *fake) Name() string { return f.name }
func (f *fake) Configure(env *Env) error {
	if f.exposeKey != "" {
		f.exposed = env.Settings.String(f.exposeKey, "default-"+f.exposeKey)
	}
	env.Settings.Bool("flag", false)
	return nil
}
func (f *fake) Routes() []Route {
	return []Route{{Method: http.MethodGet, Path: "/" + f.name, Handler: func(http.ResponseWriter, *http.Request) {}}}
}
func (f *fake) ExposedSettings() map[string]any {
	if f.exposeKey == "" {
		return nil
	}
	return map[string]any{f.exposeKey: f.exposed}
}
func (f *fake) Capabilities() []string { return f.static }
func (f *fake) Start(context.Context) error {
	if f.startErr != nil {
		return f.startErr
	}
	f.started.Add(1)
	return nil
}
func (f *fake) Stop(context.Context) error { f.stopped.Add(1); return nil }

// withProviders wraps a fake so it also implements ProviderUser.
type withProviders struct{ *fake }

func (w withProviders) ProviderNames(configured []string) ([]string, bool) {
	if w.forced != nil {
		return w.forced, w.asList
	}
	if configured == nil {
		return []string{w.name + "_default"}, w.asList
	}
	return configured, w.asList
}
func (w withProviders) NewProvider(name string) Module {
	if p, ok := w.providers[name]; ok {
		return p
	}
	return nil
}
func (w withProviders) UseProviders(p []Module) error { w.used = p; return nil }

type withDeps struct{ *fake }

func (w withDeps) Requires() []string { return w.requires }

type recorder struct {
	mu     sync.Mutex
	failed map[string]string
}

func (r *recorder) RecordFailure(m, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = map[string]string{}
	}
	r.failed[m] = msg
}

func newRegistry(t *testing.T, files map[string]string, features ...Feature) (*Registry, *recorder) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	rec := &recorder{}
	r := New(Options{Global: &settings.Global{SettingsDirectory: dir}, Log: log, Failures: rec, Version: "3.11.0-develop"}, features...)
	return r, rec
}

func TestLifecycleStates(t *testing.T) {
	good := &fake{name: "good", static: []string{"b", "a", "a"}}
	broken := &fake{name: "broken", startErr: errors.New("port 67 in use")}
	off := &fake{name: "off", exposeKey: "url"}
	bad := &fake{name: "bad"}
	r, rec := newRegistry(t, map[string]string{
		"good.yml":   ":enabled: true\n",
		"broken.yml": ":enabled: https\n",
		"off.yml":    ":enabled: false\n:url: http://x\n",
		"bad.yml":    ":enabled: true\n:flag: 'yes'\n",
	}, good, broken, off, bad)
	r.Load()
	if s, _ := r.StateOf("good"); s != Starting {
		t.Fatalf("after load good is %s, want starting", s)
	}
	r.Start(context.Background())

	want := map[string]State{"good": Running, "broken": Failed, "off": Disabled, "bad": Failed}
	for name, st := range want {
		if got, _ := r.StateOf(name); got != st {
			t.Errorf("%s: state %s, want %s", name, got, st)
		}
	}
	if !reflect.DeepEqual(r.Running(), []string{"good"}) {
		t.Errorf("v1 = %v", r.Running())
	}
	if v := r.Versions(); !reflect.DeepEqual(v, map[string]string{"good": "3.11.0"}) {
		t.Errorf("versions = %v", v)
	}
	if !strings.Contains(rec.failed["broken"], "Disabling all modules in the group ['broken'] due to a failure in one of them: broken: port 67 in use") {
		t.Errorf("failed_modules[broken] = %q", rec.failed["broken"])
	}
	if !strings.Contains(rec.failed["bad"], "bad.yml: :flag: must be true or false") {
		t.Errorf("failed_modules[bad] = %q", rec.failed["bad"])
	}
	info := r.Info(context.Background())
	if g := info["good"]; !g.HTTPEnabled || !g.HTTPSEnabled || !reflect.DeepEqual(g.Capabilities, []string{"a", "b"}) {
		t.Errorf("good v2 = %+v", g)
	}
	if b := info["broken"]; b.HTTPEnabled || b.HTTPSEnabled || b.State != Failed {
		t.Errorf("failed feature must report both listeners off: %+v", b)
	}
	if o := info["off"]; o.State != Disabled || !reflect.DeepEqual(o.Settings, map[string]any{"url": nil}) || len(o.Capabilities) != 0 {
		t.Errorf("disabled v2 = %+v (exposed settings must be null)", o)
	}
	if !r.Serves("good", true) || !r.Serves("good", false) || r.Serves("broken", true) || r.Serves("off", false) {
		t.Error("Serves must follow state and :enabled:")
	}
	r.Stop(context.Background())
	if good.stopped.Load() != 1 {
		t.Errorf("good stopped %d times", good.stopped.Load())
	}
}

func TestProvidersShareTheFeaturesFate(t *testing.T) {
	prov := &fake{name: "dhcp_fake", exposeKey: "server", static: []string{"dhcp_filename_ipv4"}}
	feat := withProviders{&fake{name: "dhcp", providers: map[string]*fake{"dhcp_fake": prov}}}
	r, _ := newRegistry(t, map[string]string{
		"dhcp.yml":      ":enabled: http\n:use_provider: dhcp_fake\n",
		"dhcp_fake.yml": ":server: 10.0.0.1\n",
	}, feat)
	r.Load()
	r.Start(context.Background())
	info := r.Info(context.Background())["dhcp"]
	if info.State != Running || !info.HTTPEnabled || info.HTTPSEnabled {
		t.Fatalf("v2 = %+v", info)
	}
	want := map[string]any{"use_provider": "dhcp_fake", "server": "10.0.0.1"}
	if !reflect.DeepEqual(info.Settings, want) {
		t.Errorf("settings = %v, want %v", info.Settings, want)
	}
	if !reflect.DeepEqual(info.Capabilities, []string{"dhcp_filename_ipv4"}) {
		t.Errorf("capabilities = %v", info.Capabilities)
	}
	if prov.started.Load() != 1 || len(feat.used) != 1 {
		t.Errorf("provider started %d, handed %d", prov.started.Load(), len(feat.used))
	}

	// A provider that fails to start stops the feature group and records every member.
	prov2 := &fake{name: "dns_fake", startErr: errors.New("bind: permission denied")}
	feat2 := withProviders{&fake{name: "dns", providers: map[string]*fake{"dns_fake": prov2}}}
	r2, rec := newRegistry(t, map[string]string{"dns.yml": ":enabled: true\n:use_provider: [dns_fake]\n"}, feat2)
	r2.Load()
	r2.Start(context.Background())
	if s, _ := r2.StateOf("dns"); s != Failed {
		t.Fatalf("dns state %s", s)
	}
	for _, m := range []string{"dns", "dns_fake"} {
		if !strings.Contains(rec.failed[m], "group ['dns', 'dns_fake']") {
			t.Errorf("failed_modules[%s] = %q", m, rec.failed[m])
		}
	}
	if got := r2.Info(context.Background())["dns"].Settings["use_provider"]; !reflect.DeepEqual(got, []string{"dns_fake"}) {
		t.Errorf("a list-configured use_provider stays a list, got %#v", got)
	}
}

func TestUnknownProviderAndKeyClash(t *testing.T) {
	feat := withProviders{&fake{name: "dhcp", providers: map[string]*fake{"dhcp_x": {name: "dhcp_x"}}}}
	r, rec := newRegistry(t, map[string]string{"dhcp.yml": ":enabled: true\n:use_provider: dhcp_isc\n"}, feat)
	r.Load()
	if s, err := r.StateOf("dhcp"); s != Failed || !strings.Contains(err.Error(), `unknown provider "dhcp_isc"`) {
		t.Fatalf("state %s err %v", s, err)
	}
	if rec.failed["dhcp"] == "" {
		t.Error("failure not recorded")
	}

	clash := withProviders{&fake{name: "dns", providers: map[string]*fake{"dns_x": {name: "dns_x"}}}}
	r2, _ := newRegistry(t, map[string]string{
		"dns.yml":   ":enabled: true\n:use_provider: dns_x\n:flag: true\n",
		"dns_x.yml": ":flag: false\n",
	}, clash)
	r2.Load()
	if s, err := r2.StateOf("dns"); s != Failed || !strings.Contains(err.Error(), ":flag: is already set in") {
		t.Fatalf("clash: state %s err %v", s, err)
	}
}

func TestForcedProviderListShape(t *testing.T) {
	feat := withProviders{&fake{name: "puppet", forced: []string{"puppet_api"}, asList: true,
		providers: map[string]*fake{"puppet_api": {name: "puppet_api"}}}}
	r, _ := newRegistry(t, map[string]string{"puppet.yml": ":enabled: true\n"}, feat)
	r.Load()
	r.Start(context.Background())
	if got := r.Info(context.Background())["puppet"].Settings["use_provider"]; !reflect.DeepEqual(got, []string{"puppet_api"}) {
		t.Fatalf("use_provider = %#v, want a list", got)
	}
}

func TestDisabledProviderUserShowsNullProvider(t *testing.T) {
	feat := withProviders{&fake{name: "dhcp"}}
	r, _ := newRegistry(t, nil, feat)
	r.Load()
	info := r.Info(context.Background())["dhcp"]
	if info.State != Disabled || !reflect.DeepEqual(info.Settings, map[string]any{"use_provider": nil}) {
		t.Fatalf("v2 = %+v", info)
	}
}

func TestDependencies(t *testing.T) {
	templates := &fake{name: "templates", startErr: errors.New("no foreman")}
	registration := withDeps{&fake{name: "registration", requires: []string{"templates"}}}
	r, rec := newRegistry(t, map[string]string{"templates.yml": ":enabled: true\n", "registration.yml": ":enabled: true\n"}, templates, registration)
	r.Load()
	r.Start(context.Background())
	if s, err := r.StateOf("registration"); s != Failed || !strings.Contains(err.Error(), "requires the templates feature, which is failed") {
		t.Fatalf("registration %s %v", s, err)
	}
	if registration.stopped.Load() != 1 {
		t.Errorf("a feature failed by its dependency must be stopped, stopped=%d", registration.stopped.Load())
	}
	if rec.failed["registration"] == "" {
		t.Error("dependency failure not recorded")
	}

	// Dependency disabled: fails already at load.
	r2, _ := newRegistry(t, map[string]string{"registration.yml": ":enabled: true\n"}, &fake{name: "templates"}, withDeps{&fake{name: "registration", requires: []string{"templates"}}})
	r2.Load()
	if s, err := r2.StateOf("registration"); s != Failed || !strings.Contains(err.Error(), "which is disabled") {
		t.Fatalf("registration %s %v", s, err)
	}
}

func TestDefaultEnabledAndMissingFileWarning(t *testing.T) {
	f := &onByDefault{fake: &fake{name: "logs"}}
	r, _ := newRegistry(t, nil, f)
	r.Load()
	r.Start(context.Background())
	if s, _ := r.StateOf("logs"); s != Running {
		t.Fatalf("logs %s", s)
	}
}

type onByDefault struct{ *fake }

func (onByDefault) DefaultEnabled() settings.Enabled { return settings.EnabledBoth }

func TestUnknownKeysWarn(t *testing.T) {
	r, _ := newRegistry(t, map[string]string{"x.yml": ":enabled: true\n:typo_key: 1\n"}, &fake{name: "x"})
	r.Load()
	found := false
	for _, p := range r.Problems {
		if strings.Contains(p, "x.yml: unknown setting :typo_key: ignored") {
			found = true
		}
	}
	if !found {
		t.Fatalf("problems = %q", r.Problems)
	}
	if s, _ := r.StateOf("x"); s != Starting {
		t.Errorf("an unknown key must only warn, state %s", s)
	}
}

func TestInvalidYAMLFailsOnlyThatFeature(t *testing.T) {
	r, _ := newRegistry(t, map[string]string{"a.yml": ":enabled: [\n", "b.yml": ":enabled: true\n"}, &fake{name: "a"}, &fake{name: "b"})
	r.Load()
	r.Start(context.Background())
	if s, _ := r.StateOf("a"); s != Failed {
		t.Errorf("a %s", s)
	}
	if s, _ := r.StateOf("b"); s != Running {
		t.Errorf("b %s", s)
	}
}

// slowProber answers only once the test closes release (nil: at once), so "the probe
// is still running" does not depend on how fast a loaded machine runs the test; the
// first request waits only briefly and later requests are served from the cache.
type slowProber struct {
	*fake
	release chan struct{}
	calls   atomic.Int32
}

func (p *slowProber) ProbeCapabilities(ctx context.Context) ([]string, error) {
	p.calls.Add(1)
	if p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
		}
	}
	return []string{"probed"}, nil
}

func TestCapabilityProbesAreCachedAndNeverBlock(t *testing.T) {
	p := &slowProber{fake: &fake{name: "bmc", static: []string{"shell"}}, release: make(chan struct{})}
	r, _ := newRegistry(t, map[string]string{"bmc.yml": ":enabled: true\n"}, p)
	r.Load()
	r.Start(context.Background())

	first := r.Info(context.Background())["bmc"].Capabilities
	if !reflect.DeepEqual(first, []string{"shell"}) {
		t.Errorf("while the probe runs, only static capabilities: %v", first)
	}
	close(p.release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		caps := r.Info(context.Background())["bmc"].Capabilities
		if reflect.DeepEqual(caps, []string{"probed", "shell"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe result never appeared: %v", caps)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 50; i++ {
		r.Info(context.Background())
	}
	if c := p.calls.Load(); c != 1 {
		t.Errorf("probe ran %d times, want 1 (cached)", c)
	}
}

func TestProbesNotCalledUnlessRunning(t *testing.T) {
	p := &slowProber{fake: &fake{name: "bmc", startErr: errors.New("x")}}
	r, _ := newRegistry(t, map[string]string{"bmc.yml": ":enabled: true\n"}, p)
	r.Load()
	r.Start(context.Background())
	r.Info(context.Background())
	if p.calls.Load() != 0 {
		t.Fatal("capability probe called for a failed feature")
	}
}

func TestRoutesListEveryFeature(t *testing.T) {
	r, _ := newRegistry(t, nil, &fake{name: "a"}, &fake{name: "b"})
	routes := r.Routes()
	if len(routes) != 2 || routes[0].Feature != "a" || routes[1].Path != "/b" {
		t.Fatalf("routes = %+v", routes)
	}
}

// Settings files that enable a feature this binary lacks (bmc, realm: the Ruby
// installer writes them) are named in a warning; disabled ones, provider files and
// settings.yml are not.
func TestForeignEnabledFeaturesWarn(t *testing.T) {
	dhcp := withProviders{&fake{name: "dhcp", providers: map[string]*fake{"dhcp_embedded": {name: "dhcp_embedded"}}}}
	r, _ := newRegistry(t, map[string]string{
		"dhcp.yml":          ":enabled: false\n",
		"dhcp_embedded.yml": ":enabled: true\n",
		"bmc.yml":           ":enabled: https\n:bmc_default_provider: ipmitool\n",
		"realm.yml":         ":enabled: false\n",
		"facts.yml":         "---\n",
		"settings.yml":      ":enabled: true\n",
	}, dhcp)
	r.Load()
	var warned []string
	for _, p := range r.Problems {
		if strings.Contains(p, "which this proxy does not have") {
			warned = append(warned, p)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "bmc.yml enables bmc") {
		t.Fatalf("warnings = %q, want one for bmc.yml", warned)
	}
}
