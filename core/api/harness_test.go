package api_test

// The harness runs the API as production does: the store on SQLite or PostgreSQL
// (storetest.Each), core/auth with a bcrypt admin and OAuth on, core/proxies with a
// client certificate, behind a real https listener that asks for client certificates
// of the test CA. Smart proxies are the real proxy (registry + server) over https.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/features/dns"
	"github.com/smartproxy/smartproxy/features/httpboot"
	"github.com/smartproxy/smartproxy/features/logs"
	"github.com/smartproxy/smartproxy/features/tftp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
)

const (
	adminPassword  = "correct horse battery staple"
	consumerKey    = "key-1"
	consumerSecret = "secret-of-32-characters-for-test"
)

type core struct {
	URL   string
	Store *store.Store
	CA    *testpki.CA
	// User is an https client that trusts the core and logs in as admin (Basic).
	User *http.Client
}

type coreOptions struct {
	orchestrator api.Orchestrator
}

func newCore(t *testing.T, db storetest.Database, opts ...coreOptions) *core {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := auth.HashPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, "admin", hash, true); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(auth.Config{OAuthActive: true, OAuthConsumerKey: consumerKey, OAuthConsumerSecret: consumerSecret,
		OAuthMapUsers: true, RestrictRegisteredProxies: true, Log: log}, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Core Test CA")
	clientCert := ca.IssueLoopback(t, "foreman.example.test")
	clientTLS, err := tlsclient.Config(ca.CAFile, clientCert.CertFile, clientCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	o := api.Options{Store: st, Auth: authenticator, Proxies: proxies.NewClient(clientTLS, 10*time.Second), Log: log}
	if len(opts) > 0 {
		o.Orchestrator = opts[0].orchestrator
	}
	hs := httptest.NewUnstartedServer(api.New(o))
	server := ca.IssueLoopback(t, "localhost")
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	c := &core{URL: hs.URL, Store: st, CA: ca}
	c.User = c.client(t, nil, basicAuth("admin", adminPassword))
	return c
}

// client is an https client of the core presenting cert (nil: none) and adding auth.
func (c *core) client(t *testing.T, cert *tls.Certificate, rt func(http.RoundTripper) http.RoundTripper) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool}}
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	t.Cleanup(tr.CloseIdleConnections)
	var base http.RoundTripper = tr
	if rt != nil {
		base = rt(tr)
	}
	return &http.Client{Transport: base}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func basicAuth(login, password string) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r.SetBasicAuth(login, password)
			return next.RoundTrip(r)
		})
	}
}

func featureNames(obj map[string]any) string {
	list, _ := obj["features"].([]any)
	var names []string
	for _, f := range list {
		names = append(names, fmt.Sprint(f.(map[string]any)["name"]))
	}
	return strings.Join(names, ",")
}

// realProxy runs a smart proxy over https with the core's CA: logs, tftp, httpboot,
// DHCP (embedded, ephemeral loopback port, one subnet) and DNS (embedded, ephemeral port).
func realProxy(t *testing.T, ca *testpki.CA, files map[string]string) *proxytest.Proxy {
	t.Helper()
	root := t.TempDir()
	all := map[string]string{
		"tftp.yml":     ":enabled: true\n:tftproot: " + root + "\n:listen: false\n:tftp_servername: 192.0.2.1\n",
		"httpboot.yml": ":enabled: true\n:root_dir: " + root + "\n",
		"dhcp.yml":     ":enabled: true\n:use_provider: dhcp_embedded\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": ":listen: 127.0.0.1:0\n:state_dir: " + t.TempDir() + "\n:subnets:\n" +
			"  - :network: 192.168.122.0\n    :netmask: 255.255.255.0\n    :range: [192.168.122.100, 192.168.122.200]\n" +
			"    :routers: [192.168.122.1]\n    :domain_name_servers: [192.168.122.2, 192.168.122.3]\n",
		"dns.yml":          ":enabled: true\n:use_provider: dns_embedded\n",
		"dns_embedded.yml": ":listen: 127.0.0.1:0\n:state_dir: " + t.TempDir() + "\n:zones:\n  - example.test\n",
	}
	for name, content := range files {
		all[name] = content
	}
	buffer := logging.NewBuffer(100, 10, logrus.InfoLevel)
	return proxytest.StartHTTPS(t, ca, "", all,
		[]registry.Feature{logs.New(buffer), tftp.New(), httpboot.New(), dhcp.New(), dns.New()}...)
}

// prefixes are the two mounts of every route.
var prefixes = []string{"/api/v2", "/api"}
