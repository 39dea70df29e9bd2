package provision_test

// The harness runs the provisioning routes as cmd/foreman-core mounts them: on the
// API's Echo app (whose IPExtractor is core/auth's ClientIP with trusted_proxies
// 127.0.0.1), over a real loopback listener, on SQLite and PostgreSQL. Hosts are
// created through TrackBuilds as the API creates them, so they get real tokens.

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

const unattendedURL = "http://foreman.test:3000"

// adminHash is the bcrypt hash of "admin-password", made once (bcrypt is slow on purpose).
var adminHash = func() string {
	h, err := auth.HashPassword("admin-password")
	if err != nil {
		panic(err)
	}
	return h
}()

type env struct {
	t        testing.TB
	URL      string // the core, plain http on 127.0.0.1
	Store    *store.Store
	Renderer *provision.Renderer
	Orch     api.Orchestrator
	Finisher *recordingFinisher
	fixtures
}

// fixtures are the rows hosts refer to.
type fixtures struct {
	Alma, Debian, NoFamily store.OperatingSystem
	Arch                   store.Architecture
	AlmaMedium, DebMedium  store.Medium
	Domain                 store.Domain
	Subnet                 store.Subnet
}

// recordingFinisher is core/orchestrate's part as the handlers see it: it records
// the hosts it was asked to finish and fails when told to.
type recordingFinisher struct {
	mu    sync.Mutex
	hosts []store.Host
	fail  error
}

func (f *recordingFinisher) Built(_ context.Context, h store.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, h)
	return f.fail
}

func (f *recordingFinisher) calls() []store.Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Host(nil), f.hosts...)
}

type envOptions struct {
	templatesDir  string
	tokenDuration time.Duration
	ownAddress    bool // no unattended_url: foreman_url is the core's address as the client used it
}

func newEnv(t testing.TB, db storetest.Database, opt ...envOptions) *env {
	t.Helper()
	o := envOptions{tokenDuration: time.Hour}
	if len(opt) > 0 {
		o = opt[0]
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(auth.Config{TrustedProxies: []string{"127.0.0.1"}, RestrictRegisteredProxies: true, Log: log}, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	base := unattendedURL
	if o.ownAddress {
		base = ""
	}
	r, err := provision.NewRenderer(st, o.templatesDir, base)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, Store: st, Renderer: r, Finisher: &recordingFinisher{}}
	e.Orch = provision.TrackBuilds(nil, st, o.tokenDuration)
	app := api.New(api.Options{Store: st, Auth: authenticator, Orchestrator: e.Orch, Log: log})
	provision.Mount(app, provision.MountOptions{Store: st, Renderer: r, Finisher: e.Finisher, Log: log, Preview: authenticator.RequireUser(),
		Origin: authenticator.Origin})
	hs := httptest.NewServer(app)
	t.Cleanup(hs.Close)
	e.URL = hs.URL
	e.fixtures = makeFixtures(t, st)
	if _, err := st.CreateUser(ctx, "admin", adminHash, true); err != nil {
		t.Fatal(err)
	}
	return e
}

func makeFixtures(t testing.TB, st *store.Store) fixtures {
	t.Helper()
	ctx := context.Background()
	var f fixtures
	f.Arch = store.Architecture{Name: "x86_64"}
	must(t, st.CreateArchitecture(ctx, &f.Arch))
	f.Alma = store.OperatingSystem{Name: "AlmaLinux", Major: "9", Minor: "4", Family: "Redhat", ArchitectureIDs: []int64{f.Arch.ID}}
	must(t, st.CreateOperatingSystem(ctx, &f.Alma))
	f.Debian = store.OperatingSystem{Name: "Debian", Major: "12", Family: "Debian", ReleaseName: "bookworm", ArchitectureIDs: []int64{f.Arch.ID}}
	must(t, st.CreateOperatingSystem(ctx, &f.Debian))
	f.NoFamily = store.OperatingSystem{Name: "Plan9", Major: "4"}
	must(t, st.CreateOperatingSystem(ctx, &f.NoFamily))
	f.AlmaMedium = store.Medium{Name: "Alma mirror", Path: "http://mirror.test/almalinux/$version/BaseOS/$arch/os/", OSFamily: "Redhat",
		OperatingSystemIDs: []int64{f.Alma.ID}}
	must(t, st.CreateMedium(ctx, &f.AlmaMedium))
	f.DebMedium = store.Medium{Name: "Debian mirror", Path: "http://deb.test/debian", OSFamily: "Debian", OperatingSystemIDs: []int64{f.Debian.ID}}
	must(t, st.CreateMedium(ctx, &f.DebMedium))
	f.Domain = store.Domain{Name: "example.test"}
	must(t, st.CreateDomain(ctx, &f.Domain))
	f.Subnet = store.Subnet{Name: "lab", Network: "192.0.2.0", Mask: "255.255.255.0", Gateway: "192.0.2.1", DNSPrimary: "192.0.2.53",
		BootMode: "DHCP", IPAM: "None", DomainIDs: []int64{f.Domain.ID}}
	must(t, st.CreateSubnet(ctx, &f.Subnet))
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hostSpec describes a host to create; zero fields get the Alma defaults.
type hostSpec struct {
	name, mac, ip string
	os            *store.OperatingSystem
	medium        *store.Medium
	noOS          bool
	build         bool
}

// host creates a host through TrackBuilds, as the API does.
func (e *env) host(s hostSpec) store.Host {
	e.t.Helper()
	ctx := context.Background()
	os, medium := &e.Alma, &e.AlmaMedium
	if s.os != nil {
		os, medium = s.os, s.medium
	}
	h := store.Host{Name: s.name + ".example.test", MAC: s.mac, IP: s.ip, DomainID: &e.Domain.ID, SubnetID: &e.Subnet.ID,
		ArchitectureID: &e.Arch.ID, Build: s.build, PXELoader: "PXELinux BIOS"}
	if !s.noOS {
		h.OperatingSystemID = &os.ID
		if medium != nil {
			h.MediumID = &medium.ID
		}
	}
	must(e.t, e.Orch.Create(ctx, &h, func(ctx context.Context) error { return e.Store.CreateHost(ctx, &h) }))
	return h
}

// token is the build token of a host.
func (e *env) token(h store.Host) string {
	e.t.Helper()
	tok, err := e.Store.BuildToken(context.Background(), h.ID)
	if err != nil {
		e.t.Fatalf("token of %s: %v", h.Name, err)
	}
	return tok.Value
}

// reload reads a host again.
func (e *env) reload(h store.Host) store.Host {
	e.t.Helper()
	got, err := e.Store.Host(context.Background(), h.ID)
	must(e.t, err)
	return got
}

// req is one request of an installer.
type req struct {
	method  string
	path    string
	header  map[string]string
	body    string
	from    string // loopback source address, "" = 127.0.0.1
	baseURL string // "" = the core
}

// reply is what the installer got.
type reply struct {
	status      int
	contentType string
	body        string
}

func (e *env) do(r req) reply {
	e.t.Helper()
	return send(e.t, e.URL, r)
}

func send(t testing.TB, base string, r req) reply {
	t.Helper()
	if r.baseURL != "" {
		base = r.baseURL
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	from := r.from
	if from == "" {
		from = "127.0.0.1"
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
}

// expect fails unless the reply has status and, when body is not "", exactly body.
func (r reply) expect(t *testing.T, status int, body string) reply {
	t.Helper()
	if r.status != status || (body != "" && r.body != body) {
		t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
	if r.contentType != "text/plain" {
		t.Errorf("Content-Type %q, want text/plain", r.contentType)
	}
	return r
}

// contains fails unless the body holds every part.
func (r reply) contains(t *testing.T, parts ...string) reply {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.body, p) {
			t.Errorf("body lacks %q:\n%s", p, r.body)
		}
	}
	return r
}
