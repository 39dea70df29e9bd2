package puppet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/puppetapi/puppettest"
)

const environmentsReply = `{"search_paths":["file:///etc/puppet/code/environments"],"environments":{
 "production":{"settings":{"modulepath":["/code/production/modules","/code/modules"],"manifest":"/code/production/manifests","environment_timeout":0,"config_version":""}},
 "development":{"settings":{"modulepath":["/code/development/modules"]}},
 "broken":{"settings":{}}}}`

const classesReply = `{"name":"production","files":[
 {"path":"/code/production/modules/motd/manifests/init.pp","classes":[{"name":"motd","params":[
   {"name":"message","type":"String","default_literal":"hello","default_source":"'hello'"},
   {"name":"port","type":"Integer","default_literal":8140,"default_source":"8140"},
   {"name":"enabled","type":"Boolean","default_literal":false,"default_source":"false"},
   {"name":"server","default_source":"$facts['networking']['fqdn']"},
   {"name":"extra","type":"Optional[String]","default_source":"undef"},
   {"name":"required"}]}]},
 {"path":"/code/production/modules/dns/manifests/config.pp","classes":[{"name":"dns::config","params":[
   {"name":"file","type":"String","default_source":"$::dns::params::file"}]}]},
 {"path":"/code/production/modules/bad/manifests/init.pp","error":"Syntax error at ')' (file: /code/production/modules/bad/manifests/init.pp, line: 1, column: 21)"},
 {"path":"/code/production/manifests/site.pp","classes":[]}]}`

// fakePuppet is the stand-in Puppet Server's behaviour, changeable per test.
type fakePuppet struct {
	mu           sync.Mutex
	etag         string        // sent with environment_classes when set
	delay        time.Duration // before answering environment_classes
	status       int           // non-zero: every request fails with it
	classCalls   atomic.Int32
	notModified  atomic.Int32
	lastIfNoneOf atomic.Value
}

func (f *fakePuppet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	etag, delay, status := f.etag, f.delay, f.status
	f.mu.Unlock()
	if status != 0 {
		http.Error(w, "Internal Server Error: java.lang.OutOfMemoryError", status)
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		http.Error(w, "want Accept: application/json", http.StatusNotAcceptable)
		return
	}
	switch r.URL.Path {
	case "/puppet/v3/environments":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, environmentsReply)
	case "/puppet/v3/environment_classes":
		f.classCalls.Add(1)
		time.Sleep(delay)
		env := r.URL.Query().Get("environment")
		if env != "production" && env != "slow" {
			http.Error(w, fmt.Sprintf("Could not find environment '%s'", env), http.StatusNotFound)
			return
		}
		f.lastIfNoneOf.Store(r.Header.Get("If-None-Match"))
		if etag != "" && r.Header.Get("If-None-Match") == etag {
			f.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, classesReply)
	default:
		http.NotFound(w, r)
	}
}

type fixture struct {
	proxy   *proxytest.Proxy
	puppet  *fakePuppet
	server  *puppettest.Server
	feature *Feature
}

func start(t *testing.T, providerYAML string) *fixture {
	t.Helper()
	pki := puppettest.NewPKI(t)
	fake := &fakePuppet{}
	srv := puppettest.StartServer(t, pki, fake)
	f := New()
	yml := fmt.Sprintf(":puppet_url: %s\n:puppet_ssl_ca: %s\n:puppet_ssl_cert: %s\n:puppet_ssl_key: %s\n%s",
		srv.URL, pki.CAFile, pki.ClientCert, pki.ClientKey, providerYAML)
	p := proxytest.Start(t, "", map[string]string{
		"puppet.yml":                  ":enabled: true\n",
		"puppet_proxy_puppet_api.yml": yml,
	}, f)
	if s := p.State("puppet"); s != "running" {
		t.Fatalf("puppet is %s", s)
	}
	return &fixture{proxy: p, puppet: fake, server: srv, feature: f}
}

func (fx *fixture) get(t *testing.T, path string) proxytest.Response {
	t.Helper()
	return fx.proxy.Do(t, http.MethodGet, path, nil)
}

func expect(t *testing.T, r proxytest.Response, status int, body string) {
	t.Helper()
	if r.Status != status || (body != "" && r.Body != body) {
		t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, status, body)
	}
}

func TestEnvironments(t *testing.T) {
	fx := start(t, "")
	proxytest.ExpectJSON(t, fx.get(t, "/puppet/environments"), `["development","production"]`)
	proxytest.ExpectJSON(t, fx.get(t, "/puppet/environments/production"),
		`{"name":"production","paths":["/code/production/modules","/code/modules"]}`)
	expect(t, fx.get(t, "/puppet/environments/nope"), 404, "Could not find environment 'nope'")
	expect(t, fx.get(t, "/puppet/environments/broken"), 404, "Could not find environment 'broken'")
	if cn := <-fx.server.ClientNames; cn != "proxy.test" {
		t.Errorf("client certificate %q reached the Puppet Server, want proxy.test", cn)
	}
}

func TestClassesLegacyShape(t *testing.T) {
	fx := start(t, "")
	proxytest.ExpectJSON(t, fx.get(t, "/puppet/environments/production/classes"), `[
	 {"motd":{"name":"motd","module":null,"params":{"message":"hello","port":8140,"enabled":"false",
	   "server":"${facts['networking']['fqdn']}","extra":"undef","required":null}}},
	 {"dns::config":{"name":"config","module":"dns","params":{"file":"${::dns::params::file}"}}}]`)
}

func TestClassesAndErrorsShape(t *testing.T) {
	fx := start(t, "")
	proxytest.ExpectJSON(t, fx.get(t, "/puppet/environments/production/classes_and_errors"), `[
	 {"path":"/code/production/modules/motd/manifests/init.pp","classes":[{"name":"motd","params":[
	   {"name":"message","type":"String","default_literal":"hello","default_source":"'hello'"},
	   {"name":"port","type":"Integer","default_literal":8140,"default_source":"8140"},
	   {"name":"enabled","type":"Boolean","default_literal":false,"default_source":"false"},
	   {"name":"server","default_source":"${facts['networking']['fqdn']}"},
	   {"name":"extra","type":"Optional[String]","default_source":"undef"},
	   {"name":"required"}]}]},
	 {"path":"/code/production/modules/dns/manifests/config.pp","classes":[{"name":"dns::config","params":[
	   {"name":"file","type":"String","default_source":"${::dns::params::file}"}]}]},
	 {"path":"/code/production/modules/bad/manifests/init.pp","error":"Syntax error at ')' (file: /code/production/modules/bad/manifests/init.pp, line: 1, column: 21)"},
	 {"path":"/code/production/manifests/site.pp","classes":[]}]`)
}

func TestClassesUnknownEnvironment(t *testing.T) {
	fx := start(t, "")
	expect(t, fx.get(t, "/puppet/environments/nope/classes"), 404, "Could not find environment 'nope'")
	expect(t, fx.get(t, "/puppet/environments/nope/classes_and_errors"), 404, "Could not find environment 'nope'")
}

func TestClassesETagReuse(t *testing.T) {
	fx := start(t, "")
	fx.puppet.etag = `"4f1c0ffee"`
	first := fx.get(t, "/puppet/environments/production/classes")
	if first.Status != 200 {
		t.Fatalf("first listing: %d %s", first.Status, first.Body)
	}
	for i := 0; i < 2; i++ {
		again := fx.get(t, "/puppet/environments/production/classes_and_errors")
		if again.Status != 200 || !strings.Contains(again.Body, "dns::config") {
			t.Fatalf("cached listing: %d %s", again.Status, again.Body)
		}
	}
	if got := fx.get(t, "/puppet/environments/production/classes"); got.Body != first.Body {
		t.Fatalf("listing after 304 differs:\n%s\n%s", got.Body, first.Body)
	}
	if n := fx.puppet.notModified.Load(); n != 3 {
		t.Errorf("Puppet answered 304 %d times, want 3 (If-None-Match last %q)", n, fx.puppet.lastIfNoneOf.Load())
	}
}

func TestClassesWithoutETagRefetch(t *testing.T) {
	fx := start(t, "")
	fx.get(t, "/puppet/environments/production/classes")
	fx.get(t, "/puppet/environments/production/classes")
	if got := fx.puppet.lastIfNoneOf.Load(); got != "" {
		t.Errorf("If-None-Match %q sent without an ETag from Puppet", got)
	}
	if n := fx.puppet.classCalls.Load(); n != 2 {
		t.Errorf("%d environment_classes calls, want 2", n)
	}
}

func TestClassesTimeoutThenServedFromBackgroundFetch(t *testing.T) {
	fx := start(t, ":api_timeout: 1\n")
	fx.puppet.etag = `"e1"`
	fx.puppet.delay = 1500 * time.Millisecond
	expect(t, fx.get(t, "/puppet/environments/slow/classes"), 503, "Puppet is taking too long to respond, please try again later.")
	// The fetch goes on in the background; once it is done a retry is answered from
	// the cache after a quick 304.
	waitFetched(t, fx.feature.backend.(*apiProvider).cache, "slow")
	fx.puppet.mu.Lock()
	fx.puppet.delay = 0
	fx.puppet.mu.Unlock()
	r := fx.get(t, "/puppet/environments/slow/classes")
	if r.Status != 200 || !strings.Contains(r.Body, "motd") {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	if n := fx.puppet.classCalls.Load(); n != 2 {
		t.Errorf("%d environment_classes calls, want 2 (slow one, then a revalidation)", n)
	}
}

func TestClassesTimeoutOnceCachedUsesShortWait(t *testing.T) {
	fx := start(t, ":api_timeout: 30\n")
	fx.puppet.etag = `"e1"`
	expect(t, fx.get(t, "/puppet/environments/production/classes"), 200, "")
	fx.feature.backend.(*apiProvider).cache.cachedWait = 200 * time.Millisecond
	fx.puppet.mu.Lock()
	fx.puppet.delay = 3 * time.Second
	fx.puppet.mu.Unlock()
	// With the 30 s first wait, only the short cached wait can answer 503 while Puppet
	// is still busy: the status alone shows which wait applied, however loaded the box.
	expect(t, fx.get(t, "/puppet/environments/production/classes_and_errors"), 503, "Puppet is taking too long to respond, please try again later.")
	if n := fx.puppet.classCalls.Load(); n != 2 {
		t.Errorf("%d environment_classes calls, want 2", n)
	}
}

// waitFetched waits until the background fetch of environment has landed in the cache.
func waitFetched(t *testing.T, c *classCache, environment string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		_, cached := c.entries[environment]
		_, busy := c.inflight[environment]
		c.mu.Unlock()
		if cached && !busy {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("background fetch of %s never finished", environment)
}

func TestBackendErrors(t *testing.T) {
	fx := start(t, "")
	fx.puppet.status = http.StatusInternalServerError
	for path, prefix := range map[string]string{
		"/puppet/environments":                               "Failed to list puppet environments: Failed to query Puppet find environments v3 API: HTTP 500: Internal Server Error",
		"/puppet/environments/production":                    "Failed to show puppet environment: Failed to query Puppet find environments v3 API: HTTP 500",
		"/puppet/environments/production/classes":            "Failed to show puppet classes: Failed to query Puppet environment classes v3 API: HTTP 500",
		"/puppet/environments/production/classes_and_errors": "Failed to show puppet classes: Failed to query Puppet environment classes v3 API: HTTP 500",
	} {
		r := fx.get(t, path)
		if r.Status != 406 || !strings.HasPrefix(r.Body, prefix) {
			t.Errorf("%s: got %d %q, want 406 %q...", path, r.Status, r.Body, prefix)
		}
	}
}

func TestBackendDown(t *testing.T) {
	fx := start(t, "")
	fx.server.Close()
	for path, prefix := range map[string]string{
		"/puppet/environments":                               "Failed to list puppet environments: ",
		"/puppet/environments/production":                    "Failed to show puppet environment: ",
		"/puppet/environments/production/classes":            "Failed to show puppet classes: ",
		"/puppet/environments/production/classes_and_errors": "Failed to show puppet classes: ",
	} {
		r := fx.get(t, path)
		if r.Status != 406 || !strings.HasPrefix(r.Body, prefix) || !strings.Contains(r.Body, "connection refused") {
			t.Errorf("%s: got %d %q, want 406 %q...connection refused", path, r.Status, r.Body, prefix)
		}
	}
}

func TestUntrustedPuppetServer(t *testing.T) {
	other := puppettest.NewPKI(t)
	fx := start(t, "")
	// Point the proxy's CA at another PKI: the stand-in's certificate must be refused.
	p := proxytest.Start(t, "", map[string]string{
		"puppet.yml": ":enabled: true\n",
		"puppet_proxy_puppet_api.yml": fmt.Sprintf(":puppet_url: %s\n:puppet_ssl_ca: %s\n:puppet_ssl_cert: %s\n:puppet_ssl_key: %s\n",
			fx.server.URL, other.CAFile, other.ClientCert, other.ClientKey),
	}, New())
	r := p.Do(t, http.MethodGet, "/puppet/environments", nil)
	if r.Status != 406 || !strings.Contains(r.Body, "certificate") {
		t.Fatalf("got %d %q, want 406 naming the certificate problem", r.Status, r.Body)
	}
}

func TestPuppetRunRemoved(t *testing.T) {
	fx := start(t, "")
	r := fx.proxy.Do(t, http.MethodPost, "/puppet/run", map[string][]string{"nodes": {"a.example.com"}})
	expect(t, r, 501, "Puppetrun support has been removed in version 2.3")
}

func TestV2FeaturesForcesProvider(t *testing.T) {
	fx := start(t, "")
	var v2 map[string]struct {
		State    string         `json:"state"`
		Settings map[string]any `json:"settings"`
	}
	r := fx.get(t, "/v2/features")
	if err := json.Unmarshal([]byte(r.Body), &v2); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	got := v2["puppet"]
	want := map[string]any{"use_provider": []any{"puppet_proxy_puppet_api"}, "puppet_url": fx.server.URL}
	if got.State != "running" || !reflect.DeepEqual(got.Settings, want) {
		t.Fatalf("v2 puppet entry %+v, want settings %v", got, want)
	}
}
