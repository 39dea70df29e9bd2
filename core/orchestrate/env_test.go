package orchestrate_test

// The environment runs what production runs: the core's API with the orchestrator
// over a store on SQLite or PostgreSQL (storetest.Each), calling real smart proxies
// (registry + server + embedded DNS, DHCP and TFTP servers, Puppet CA autosign) over
// https with a client certificate of the test CA. The tests import features only to
// run those proxies; the orchestrator talks to them over REST.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/orchestrate"
	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/features/dns"
	"github.com/smartproxy/smartproxy/features/puppetca"
	"github.com/smartproxy/smartproxy/features/tftp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/registry"
)

const adminPassword = "orchestrate test password"

// realProxy is a running smart proxy and where to look at what it serves.
type realProxy struct {
	*proxytest.Proxy
	ID       int64  // in the core's store
	DNSAddr  string // embedded DNS server, "" without DNS
	TFTPRoot string
	TFTP     *tftp.Feature
	Autosign string // the autosign file
}

// proxySpec says what a proxy runs.
type proxySpec struct {
	dns, dhcp, tftp, puppetca bool
	zones                     []string
	autosignFile              string // default: <tmp>/autosign.conf
}

func freePort(t testing.TB) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		udp, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			udp.Close()
			return addr
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return ""
}

func startProxy(t testing.TB, ca *testpki.CA, spec proxySpec) *realProxy {
	t.Helper()
	p := &realProxy{}
	files := map[string]string{}
	var features []registry.Feature
	if spec.dns {
		p.DNSAddr = freePort(t)
		zones := ""
		for _, z := range spec.zones {
			zones += "  - " + z + "\n"
		}
		files["dns.yml"] = ":enabled: true\n:use_provider: dns_embedded\n:dns_ttl: 60\n"
		files["dns_embedded.yml"] = ":listen: " + p.DNSAddr + "\n:state_dir: " + t.TempDir() + "\n:zones:\n" + zones
		features = append(features, dns.New())
	}
	if spec.dhcp {
		files["dhcp.yml"] = ":enabled: true\n:use_provider: dhcp_embedded\n:ping_free_ip: false\n"
		files["dhcp_embedded.yml"] = ":listen: 127.0.0.1:0\n:state_dir: " + t.TempDir() + "\n:subnets:\n" +
			"  - :network: 192.0.2.0\n    :netmask: 255.255.255.0\n    :range: [192.0.2.100, 192.0.2.200]\n"
		features = append(features, dhcp.New())
	}
	if spec.tftp {
		p.TFTPRoot = t.TempDir()
		files["tftp.yml"] = ":enabled: true\n:tftproot: " + p.TFTPRoot + "\n:listen: 127.0.0.1:0\n"
		p.TFTP = tftp.New()
		features = append(features, p.TFTP)
	}
	if spec.puppetca {
		p.Autosign = spec.autosignFile
		if p.Autosign == "" {
			p.Autosign = filepath.Join(t.TempDir(), "autosign.conf")
		}
		files["puppetca.yml"] = ":enabled: true\n:use_provider: puppetca_hostname_whitelisting\n"
		// No Puppet Server: autosign entries are a file; certificate deletes fail (406),
		// which the orchestrator treats as best effort.
		files["puppetca_http_api.yml"] = ":puppet_url: https://127.0.0.1:9\n:puppet_ssl_ca: " + ca.CAFile + "\n"
		files["puppetca_hostname_whitelisting.yml"] = ":autosignfile: " + p.Autosign + "\n"
		features = append(features, puppetca.New())
	}
	p.Proxy = proxytest.StartHTTPS(t, ca, "", files, features...)
	for _, f := range features {
		if s := p.State(f.Name()); s != registry.Running {
			t.Fatalf("proxy feature %s is %s", f.Name(), s)
		}
	}
	return p
}

// env is the core with its store and the proxies it calls.
type env struct {
	t       testing.TB
	ca      *testpki.CA
	store   *store.Store
	client  *proxies.Client
	coreURL string
	user    *http.Client
	ids     fixtureIDs
	// main runs DNS (forward and reverse zones), DHCP, TFTP and Puppet CA.
	main *realProxy
	orch *orchestrate.Orchestrator
}

type fixtureIDs struct {
	domain, subnet, os, medium, arch int64
}

// renderer stands in for core/provision: a PXELinux and a PXEGrub2 config saying
// which host, which id and build or local boot; no iPXE template (skipped).
type renderer struct{}

func (renderer) PXEConfig(_ context.Context, h store.Host, kind string) (string, error) {
	mode := "localboot"
	if h.Build {
		mode = "build"
	}
	switch kind {
	case "PXELinux":
		return fmt.Sprintf("# %s id=%d %s\nDEFAULT %s\n", h.Name, h.ID, mode, mode), nil
	case "PXEGrub2":
		return fmt.Sprintf("# %s id=%d %s\nset default=%s\n", h.Name, h.ID, mode, mode), nil
	}
	return "", nil
}

func newEnv(t testing.TB, db storetest.Database) *env {
	t.Helper()
	return newEnvWith(t, db, false)
}

// newEnvWith builds the env; withProvision wires the core as foreman-core does: the
// real core/provision renderer, build tokens written in the save (TrackBuilds) and
// /unattended/* with the orchestrator finishing builds.
func newEnvWith(t testing.TB, db storetest.Database, withProvision bool) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ca: testpki.NewCA(t, "Orchestrate Test CA")}
	var err error
	if e.store, err = store.Open(ctx, db.URL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	cert := e.ca.IssueLoopback(t, "foreman.example.test")
	conf, err := tlsclient.Config(e.ca.CAFile, cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	e.client = proxies.NewClient(conf, 10*time.Second)
	e.main = startProxy(t, e.ca, proxySpec{dns: true, dhcp: true, tftp: true, puppetca: true,
		zones: []string{"example.test", "2.0.192.in-addr.arpa"}})
	e.register(e.main, "main", "DNS", "DHCP", "TFTP", "Puppet CA")

	log := logrus.New()
	log.SetOutput(io.Discard)
	var pxe orchestrate.PXERenderer = renderer{}
	var real *provision.Renderer
	if withProvision {
		if real, err = provision.NewRenderer(e.store, "", "http://core.example.test"); err != nil {
			t.Fatal(err)
		}
		pxe = real
	}
	e.orch = orchestrate.New(orchestrate.Options{Store: e.store, Proxies: e.client, Renderer: pxe,
		Resolver: orchestrate.NewResolver([]string{e.main.DNSAddr}), Log: log})
	var hostOrchestrator api.Orchestrator = e.orch
	if withProvision {
		hostOrchestrator = provision.TrackBuilds(e.orch, e.store, time.Hour)
	}
	hash, err := auth.HashPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(ctx, "admin", hash, true); err != nil {
		t.Fatal(err)
	}
	dir := store.AuthDirectory{Store: e.store}
	authenticator, err := auth.New(auth.Config{Log: log}, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	app := api.New(api.Options{Store: e.store, Auth: authenticator, Proxies: e.client, Orchestrator: hostOrchestrator, Log: log})
	e.orch.Mount(app, authenticator.RequireUser())
	if withProvision {
		provision.Mount(app, provision.MountOptions{Store: e.store, Renderer: real, Finisher: e.orch, Log: log})
	}
	hs := httptest.NewServer(app)
	t.Cleanup(hs.Close)
	e.coreURL, e.user = hs.URL, hs.Client()
	e.fixtures()
	return e
}

func (e *env) register(p *realProxy, name string, features ...string) {
	e.t.Helper()
	sp := store.SmartProxy{Name: name, URL: p.URL, Features: []store.Feature{}}
	for _, f := range features {
		sp.Features = append(sp.Features, store.Feature{Name: f, Capabilities: []string{}, Settings: map[string]any{}})
	}
	if err := e.store.CreateSmartProxy(context.Background(), &sp); err != nil {
		e.t.Fatal(err)
	}
	p.ID = sp.ID
}

// fixtures: domain example.test and subnet 192.0.2.0/24 served by the main proxy, a
// Red Hat family OS with an http medium, architecture x86_64.
func (e *env) fixtures() {
	ctx := context.Background()
	id := e.main.ID
	d := store.Domain{Name: "example.test", DNSID: &id}
	must(e.t, e.store.CreateDomain(ctx, &d))
	n := store.Subnet{Name: "lab", Network: "192.0.2.0", Mask: "255.255.255.0", BootMode: "DHCP", IPAM: "None",
		DHCPID: &id, TFTPID: &id, DNSID: &id, DomainIDs: []int64{d.ID}}
	must(e.t, e.store.CreateSubnet(ctx, &n))
	a := store.Architecture{Name: "x86_64"}
	must(e.t, e.store.CreateArchitecture(ctx, &a))
	o := store.OperatingSystem{Name: "Rocky", Major: "9", Minor: "4", Family: "Redhat", PXELoaders: []string{"PXELinux BIOS", "Grub2 UEFI"},
		ArchitectureIDs: []int64{a.ID}}
	must(e.t, e.store.CreateOperatingSystem(ctx, &o))
	m := store.Medium{Name: "Rocky mirror", Path: "http://127.0.0.1:9/rocky/$version/BaseOS/$arch/os", OSFamily: "Redhat",
		OperatingSystemIDs: []int64{o.ID}}
	must(e.t, e.store.CreateMedium(ctx, &m))
	e.ids = fixtureIDs{domain: d.ID, subnet: n.ID, os: o.ID, medium: m.ID, arch: a.ID}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hostBody is a create request for name/ip/mac in the fixtures, in build.
func (e *env) hostBody(name, ip, mac string, build bool) map[string]any {
	return map[string]any{"host": map[string]any{
		"name": name, "ip": ip, "mac": mac, "domain_id": e.ids.domain, "subnet_id": e.ids.subnet,
		"architecture_id": e.ids.arch, "operatingsystem_id": e.ids.os, "medium_id": e.ids.medium,
		"pxe_loader": "PXELinux BIOS", "build": build,
	}}
}

type answer struct {
	Status int
	Body   string
	JSON   map[string]any
}

func (e *env) call(method, path string, body any) answer {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.coreURL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.user.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Body: string(data)}
	json.Unmarshal(data, &a.JSON)
	return a
}

func (a answer) expect(t testing.TB, status int) answer {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	return a
}

// messages are error.full_messages of a 422.
func (a answer) messages() string {
	e, _ := a.JSON["error"].(map[string]any)
	list, _ := e["full_messages"].([]any)
	var out []string
	for _, m := range list {
		out = append(out, fmt.Sprint(m))
	}
	return strings.Join(out, "\n")
}

// proxyGet asks a proxy through the core's client (the API Foreman uses).
func (e *env) proxyGet(p *realProxy, path string) (string, error) {
	body, err := e.client.Do(context.Background(), http.MethodGet, p.URL, path, nil)
	return string(body), err
}

// dig asks the proxy's embedded DNS server with the real dig.
func dig(t testing.TB, server, name, typ string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	out, err := exec.Command("dig", "+short", "+time=5", "+tries=2", "@"+host, "-p", port, name, typ).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v: %s", name, typ, err, out)
	}
	return strings.TrimSpace(string(out))
}

// tftpGet fetches a file from the proxy's embedded TFTP server with the real tftp-hpa
// client; ok is false when the server refuses (no such file).
func tftpGet(t testing.TB, p *realProxy, file string) (content string, ok bool) {
	t.Helper()
	addr := p.TFTP.TFTPAddr().(*net.UDPAddr)
	dest := filepath.Join(t.TempDir(), "got")
	cmd := exec.Command("tftp", "127.0.0.1", fmt.Sprint(addr.Port), "-c", "get", file, dest)
	out, err := cmd.CombinedOutput()
	data, readErr := os.ReadFile(dest)
	if err != nil || readErr != nil || strings.Contains(string(out), "Error") {
		return string(out), false
	}
	return string(data), true
}

func requirePeers(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"dig", "tftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (bind9-dnsutils, tftp-hpa; .ci/run installs them)", tool)
		}
	}
}

// leftovers lists every record of a host left on a proxy: A and PTR (dig), DHCP
// reservations of the subnet, PXE files (TFTP API and the root), autosign entries.
func (e *env) leftovers(p *realProxy, name, ip, mac string) []string {
	e.t.Helper()
	var found []string
	if p.DNSAddr != "" {
		if a := dig(e.t, p.DNSAddr, name, "A"); a != "" {
			found = append(found, "A "+a)
		}
		if ip != "" {
			if ptr := dig(e.t, p.DNSAddr, reverse(ip), "PTR"); ptr != "" {
				found = append(found, "PTR "+ptr)
			}
		}
	}
	if p.State("dhcp") == registry.Running {
		body, err := e.proxyGet(p, "/dhcp/192.0.2.0")
		if err != nil {
			e.t.Fatal(err)
		}
		var reply struct {
			Reservations []map[string]any `json:"reservations"`
		}
		must(e.t, json.Unmarshal([]byte(body), &reply))
		for _, r := range reply.Reservations {
			found = append(found, fmt.Sprintf("DHCP %v/%v", r["ip"], r["mac"]))
		}
	}
	if p.TFTP != nil {
		for _, kind := range []string{"PXELinux", "PXEGrub2", "iPXE"} {
			if body, err := e.proxyGet(p, "/tftp/"+kind+"/"+mac); err == nil {
				found = append(found, "TFTP "+kind+": "+body)
			}
		}
		for _, dir := range []string{"pxelinux.cfg", "grub2"} {
			entries, _ := os.ReadDir(filepath.Join(p.TFTPRoot, dir))
			for _, en := range entries {
				found = append(found, "file "+dir+"/"+en.Name())
			}
		}
	}
	if p.Autosign != "" {
		body, err := e.proxyGet(p, "/puppet/ca/autosign")
		if err == nil && body != "[]" {
			found = append(found, "autosign "+body)
		}
	}
	return found
}

func reverse(ip string) string {
	p := strings.Split(ip, ".")
	return p[3] + "." + p[2] + "." + p[1] + "." + p[0] + ".in-addr.arpa"
}

// expectNoHost checks the host is not stored (API 404 and the store).
func (e *env) expectNoHost(name string) {
	e.t.Helper()
	e.call(http.MethodGet, "/api/v2/hosts/"+url.PathEscape(name), nil).expect(e.t, http.StatusNotFound)
	if _, err := e.store.HostByName(context.Background(), name); err == nil {
		e.t.Fatalf("host %s is stored", name)
	}
}

// tasks is the served task list: "name=status" lines.
func (e *env) tasks(host string) string {
	e.t.Helper()
	a := e.call(http.MethodGet, "/api/v2/hosts/"+url.PathEscape(host)+"/tasks", nil).expect(e.t, http.StatusOK)
	list, _ := a.JSON["tasks"].([]any)
	var lines []string
	for _, raw := range list {
		task := raw.(map[string]any)
		lines = append(lines, fmt.Sprintf("%v %v=%v", task["priority"], task["name"], task["status"]))
	}
	return strings.Join(lines, "\n")
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// registerURL stores a proxy at a URL (one nothing may listen on).
func (e *env) registerURL(name, proxyURL string, features ...string) int64 {
	e.t.Helper()
	p := &realProxy{Proxy: &proxytest.Proxy{URL: proxyURL}}
	e.register(p, name, features...)
	return p.ID
}

// setSubnetProxy points one of the subnet's proxies elsewhere.
func (e *env) setSubnetProxy(column string, id int64) {
	e.t.Helper()
	ctx := context.Background()
	n, err := e.store.Subnet(ctx, e.ids.subnet)
	must(e.t, err)
	switch column {
	case "dns_id":
		n.DNSID = &id
	case "dhcp_id":
		n.DHCPID = &id
	}
	must(e.t, e.store.UpdateSubnet(ctx, &n))
}

func (e *env) setMediumPath(path string) {
	e.t.Helper()
	ctx := context.Background()
	m, err := e.store.Medium(ctx, e.ids.medium)
	must(e.t, err)
	m.Path = path
	must(e.t, e.store.UpdateMedium(ctx, &m))
}
