// Package relay is the zone relay (DESIGN §7): a smart proxy in an outer zone (PFS, DMZ)
// that is the only door to the next zone in. Inbound it forwards a fixed allow-list of
// core paths — ENC, facts, config reports, /unattended, /userdata, /register — to the
// next hop (the next relay or the core), re-encrypted with its own client certificate;
// facts and reports are queued durably and delivered in order, once, while the next
// hop is down. Outbound it forwards /proxy/<name>/... to a proxy of the zone, so the
// core reaches that proxy only through the relays.
package relay

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
)

// The allow-list's entries; each names a group of routes.
const (
	allowENC        = "enc"
	allowFacts      = "facts"
	allowReports    = "reports"
	allowUnattended = "unattended"
	allowUserdata   = "userdata"
	allowRegister   = "register"
	// allowSmartProxies is the installer's proxy registration (`smart-proxy
	// register` run in this zone): part of the core's admin API, so it is forwarded
	// only when listed, never by default.
	allowSmartProxies = "smart_proxies"
)

// defaultAllowed is the allow-list when :allow: is not set.
var defaultAllowed = []string{allowENC, allowFacts, allowReports, allowUnattended, allowUserdata, allowRegister}

// knownGroups is every group :allow: may name.
var knownGroups = append(append([]string(nil), defaultAllowed...), allowSmartProxies)

// Defaults of settings.d/relay.yml.
const (
	defaultQueueDir             = "/var/lib/foreman-proxy/relay"
	defaultMaxEntries           = 100000
	defaultMaxBytes             = 1 << 30
	defaultRetryInitialMS       = 1000
	defaultRetryMaxMS           = 60000
	defaultTimeoutSeconds       = 30
	queuedBodyLimit       int64 = 32 << 20 // a report with many resources; facts are far smaller
)

// Feature is the relay.
type Feature struct {
	nextHopURL string
	allowed    map[string]bool
	trust      trust
	queueDir   string
	limits     QueueLimits
	backoff    backoff
	timeout    time.Duration
	downstream map[string]string // name -> proxy URL
	tls        hopTLS
	log        *logrus.Entry

	next        *hop
	downHops    map[string]*hop
	queue       *Queue
	enc         *encCache
	counters    deliveryCounters
	queueFull   atomic.Uint64 // requests refused with 503
	staleServed atomic.Uint64 // ENC answers served from the cache

	cancel context.CancelFunc
	done   sync.WaitGroup
}

var (
	_ registry.Feature         = (*Feature)(nil)
	_ registry.Exposer         = (*Feature)(nil)
	_ registry.Starter         = (*Feature)(nil)
	_ registry.Stopper         = (*Feature)(nil)
	_ registry.MetricsReporter = (*Feature)(nil)
)

// New returns the relay feature; Configure gives it its settings.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "relay" }

// Configure reads settings.d/relay.yml. It opens nothing: Start opens the queue.
func (f *Feature) Configure(env *registry.Env) error {
	s := env.Settings
	f.log = env.Log
	if s.String("next_hop_url", "") == "" {
		s.Fail("next_hop_url", "is required: the URL of the next relay towards the core, or of the core")
	} else if f.nextHopURL = s.URL("next_hop_url"); f.nextHopURL != "" {
		if _, err := newHop(f.nextHopURL, hopTLS{}, time.Second); err != nil {
			s.Fail("next_hop_url", "%v", err)
		}
	}
	ca, cert, key := env.Global.ForemanClientTLS()
	f.tls = hopTLS{
		ca:   s.ReadableFile("next_hop_ssl_ca", ca, false),
		cert: s.ReadableFile("next_hop_ssl_cert", cert, false),
		key:  s.ReadableFile("next_hop_ssl_key", key, false),
		crl:  s.ReadableFile("next_hop_ssl_crl", env.Global.SSLCRLFile, false),
		log:  env.Log,
	}
	if f.tls.crl != "" && f.tls.ca == "" {
		s.Fail("next_hop_ssl_crl", "needs a CA file (:next_hop_ssl_ca: or :ssl_ca_file:) to check the CRL's signature")
	}

	f.allowed = map[string]bool{}
	for _, a := range s.StringList("allow", defaultAllowed) {
		a = strings.ToLower(strings.TrimSpace(a))
		if !contains(knownGroups, a) {
			s.Fail("allow", "%q is not one of %s", a, strings.Join(knownGroups, ", "))
			continue
		}
		f.allowed[a] = true
	}
	t, err := parseTrust(s.StringList("trusted_relays", nil))
	if err != nil {
		s.Fail("trusted_relays", "%v", err)
	}
	f.trust = t

	f.queueDir = s.Path("queue_dir", defaultQueueDir)
	f.enc = &encCache{dir: f.queueDir + "/enc"}
	f.limits = QueueLimits{
		MaxEntries: positive(s, "queue_max_entries", defaultMaxEntries),
		MaxBytes:   int64(positive(s, "queue_max_bytes", defaultMaxBytes)),
	}
	f.backoff = backoff{
		initial: time.Duration(positive(s, "retry_initial_ms", defaultRetryInitialMS)) * time.Millisecond,
		max:     time.Duration(positive(s, "retry_max_ms", defaultRetryMaxMS)) * time.Millisecond,
	}
	if f.backoff.max < f.backoff.initial {
		s.Fail("retry_max_ms", "must not be less than :retry_initial_ms:")
	}
	f.timeout = time.Duration(positive(s, "timeout_seconds", defaultTimeoutSeconds)) * time.Second

	f.downstream = map[string]string{}
	if raw, ok := s.Raw("downstream_proxies"); ok && raw != nil {
		m, isMap := raw.(map[string]any)
		if !isMap {
			s.Fail("downstream_proxies", "must be a map of names to proxy URLs")
		}
		for name, v := range m {
			u, _ := v.(string)
			if !downstreamName.MatchString(name) || u == "" {
				s.Fail("downstream_proxies", "entry %q must be a name of letters, digits, '-', '_' or '.' mapped to a URL", name)
				continue
			}
			if _, err := newHop(u, hopTLS{}, time.Second); err != nil {
				s.Fail("downstream_proxies", "%s: %v", name, err)
				continue
			}
			f.downstream[name] = u
		}
	}
	return nil
}

func positive(s interface {
	Int(string, int) int
	Fail(string, string, ...any)
}, key string, def int) int {
	v := s.Int(key, def)
	if v <= 0 {
		s.Fail(key, "must be a positive integer, got %d", v)
		return def
	}
	return v
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ExposedSettings shows the next hop and the live queue state in /v2/features.
func (f *Feature) ExposedSettings() map[string]any {
	names := make([]string, 0, len(f.downstream))
	for n := range f.downstream {
		names = append(names, n)
	}
	sort.Strings(names)
	return map[string]any{
		"next_hop_url":       f.nextHopURL,
		"downstream_proxies": names,
		"queue":              queueView{f},
	}
}

// Start opens the queue and the hops and starts delivering.
func (f *Feature) Start(ctx context.Context) error {
	next, err := newHop(f.nextHopURL, f.tls, f.timeout)
	if err != nil {
		return fmt.Errorf("next_hop_url: %w", err)
	}
	f.next = next
	f.downHops = map[string]*hop{}
	for name, u := range f.downstream {
		h, err := newHop(u, f.tls, f.timeout)
		if err != nil {
			return fmt.Errorf("downstream proxy %s: %w", name, err)
		}
		f.downHops[name] = h
	}
	q, err := OpenQueue(f.queueDir, f.limits)
	if err != nil {
		return err
	}
	f.queue = q
	if st := q.Stats(); st.Depth > 0 {
		f.log.Infof("Relay: %d queued requests (%d bytes, oldest from %s) to deliver to %s",
			st.Depth, st.Bytes, st.Oldest.UTC().Format(time.RFC3339), next.base.Redacted())
	}
	ctx, f.cancel = context.WithCancel(ctx)
	d := &deliverer{queue: q, hop: next, backoff: f.backoff, timeout: f.timeout, log: f.log, counters: &f.counters}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		d.run(ctx)
	}()
	return nil
}

// Stop ends delivery (a request in flight is cancelled and sent again next start) and
// closes the queue.
func (f *Feature) Stop(context.Context) error {
	if f.cancel != nil {
		f.cancel()
	}
	f.done.Wait()
	if f.next != nil {
		f.next.close()
	}
	for _, h := range f.downHops {
		h.close()
	}
	if f.queue != nil {
		return f.queue.Close()
	}
	return nil
}

// Routes answer at the root of the relay's URL, where clients expect Foreman. Routes
// also offered by templates (/unattended, /userdata) and registration (/register) are
// served by those features when they run on the listener: they come first.
func (f *Feature) Routes() []registry.Route {
	get, post := http.MethodGet, http.MethodPost
	enqueue := func(method, path, group string) registry.Route {
		return registry.Route{Method: method, Path: path, Handler: f.allow(group, f.enqueue), MaxBodyBytes: queuedBodyLimit}
	}
	sync := func(method, path, group string) registry.Route {
		// Hosts being built have no client certificate (spec §3), as with templates.
		return registry.Route{Method: method, Path: path, Handler: f.allow(group, f.passThrough), Public: true}
	}
	routes := []registry.Route{
		{Method: get, Path: "/node/:certname", Handler: f.allow(allowENC, f.node)},
		enqueue(post, "/api/hosts/facts", allowFacts),
		enqueue(post, "/api/v2/hosts/facts", allowFacts),
		enqueue(post, "/api/config_reports", allowReports),
		enqueue(post, "/api/v2/config_reports", allowReports),
		enqueue(post, "/api/reports", allowReports),
		sync(get, "/unattended", allowUnattended),
		sync(get, "/unattended/:kind", allowUnattended),
		sync(post, "/unattended/:kind", allowUnattended),
		sync(get, "/unattended/:kind/:template", allowUnattended),
		sync(post, "/unattended/:kind/:template", allowUnattended),
		sync(get, "/unattended/:kind/:template/*", allowUnattended),
		sync(get, "/userdata/:kind", allowUserdata),
		sync(get, "/userdata/:mac/:kind", allowUserdata),
		sync(get, "/register", allowRegister),
		sync(post, "/register", allowRegister),
		// What `smart-proxy register` (and the installer) call; OAuth-signed, checked
		// by the core against the URL the client used (X-Forwarded-Host/-Proto).
		sync(get, "/api/v2/smart_proxies", allowSmartProxies),
		sync(post, "/api/v2/smart_proxies", allowSmartProxies),
		sync(get, "/api/v2/smart_proxies/:id", allowSmartProxies),
		sync(http.MethodPut, "/api/v2/smart_proxies/:id", allowSmartProxies),
		sync(http.MethodPut, "/api/v2/smart_proxies/:id/refresh", allowSmartProxies),
	}
	for _, m := range []string{get, post, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		routes = append(routes,
			registry.Route{Method: m, Path: "/proxy/:name", Handler: f.downstreamProxy, MaxBodyBytes: queuedBodyLimit},
			registry.Route{Method: m, Path: "/proxy/:name/*", Handler: f.downstreamProxy, MaxBodyBytes: queuedBodyLimit})
	}
	return routes
}

// downstreamName is what may follow /proxy/ in a URL.
var downstreamName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
