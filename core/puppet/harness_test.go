package puppet_test

// The harness runs the core as cmd/foreman-core wires it: core/api and this package on
// one Echo app, over SQLite or PostgreSQL (storetest.Each), behind a real https
// listener asking for client certificates of the test CA. A "Puppet server" is a
// registered smart proxy with the Puppet feature whose certificate names its host.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dghubble/oauth1"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

const (
	adminPassword  = "correct horse battery staple"
	consumerKey    = "key-1"
	consumerSecret = "secret-of-32-characters-for-test"
)

type core struct {
	URL     string
	Addr    string // host:port of the listener
	Store   *store.Store
	Service *puppet.Service
	CA      *testpki.CA
	User    *http.Client // admin by Basic auth
	Puppet  tls.Certificate
	Other   tls.Certificate // a registered proxy without the Puppet feature
	Anon    *http.Client    // no certificate, no login
}

func newCore(t testing.TB, db storetest.Database, change ...func(*puppet.Options)) *core {
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
	// A database used before (a restarted core) has them already.
	var taken *store.ConflictError
	if _, err := st.CreateUser(ctx, "admin", hash, true); err != nil && !errors.As(err, &taken) {
		t.Fatal(err)
	}
	for _, p := range []store.SmartProxy{
		{Name: "puppet", URL: "https://puppet.example.test:8443", Features: []store.Feature{{Name: "Puppet"}}},
		{Name: "dhcp", URL: "https://dhcp.example.test:8443", Features: []store.Feature{{Name: "DHCP"}}},
	} {
		if err := st.CreateSmartProxy(ctx, &p); err != nil && !errors.As(err, &taken) {
			t.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(auth.Config{RestrictRegisteredProxies: true, OAuthActive: true, OAuthConsumerKey: consumerKey,
		OAuthConsumerSecret: consumerSecret, OAuthMapUsers: true, Log: log}, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := puppet.Options{Store: st, Auth: authenticator, Log: log, CreateHostsFromFacts: true,
		CreateHostsFromReports: true, EncEnvironment: true, ReportRetention: 7 * 24 * time.Hour}
	for _, f := range change {
		f(&opts)
	}
	app := api.New(api.Options{Store: st, Auth: authenticator, Log: log})
	svc := puppet.Mount(app, opts)
	hs := httptest.NewUnstartedServer(app)
	ca := testpki.NewCA(t, "Core Test CA")
	server := ca.IssueLoopback(t, "localhost")
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: ca.Pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	c := &core{URL: hs.URL, Addr: strings.TrimPrefix(hs.URL, "https://"), Store: st, Service: svc, CA: ca}
	c.Puppet = ca.Issue(t, testpki.Spec{CN: "puppet.example.test", DNSNames: []string{"puppet.example.test"}}).TLS
	c.Other = ca.Issue(t, testpki.Spec{CN: "dhcp.example.test", DNSNames: []string{"dhcp.example.test"}}).TLS
	c.User = c.client(t, nil, "admin", adminPassword)
	c.Anon = c.client(t, nil, "", "")
	return c
}

// client is an https client of the core presenting cert (nil: none) and logging in
// with Basic auth when login is set.
func (c *core) client(t testing.TB, cert *tls.Certificate, login, password string) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool}}
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	t.Cleanup(tr.CloseIdleConnections)
	if login == "" {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.SetBasicAuth(login, password)
		return tr.RoundTrip(r)
	})}
}

// oauthClient signs as the installer's foreman_host does (two-legged OAuth 1.0,
// HMAC-SHA1, the effective user in foreman_user).
func (c *core) oauthClient(t *testing.T) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool}}
	t.Cleanup(tr.CloseIdleConnections)
	base := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.Header["Foreman_user"] = []string{"admin"}
		return tr.RoundTrip(r)
	})}
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, base)
	return oauth1.NewConfig(consumerKey, consumerSecret).Client(ctx, oauth1.NewToken("", ""))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// replay writes raw, a request exactly as a recorded client sent it, on a new TLS
// connection presenting cert, with "HOSTPORT" replaced by the listener's address and
// Content-Length filled in; it returns the response.
func (c *core) replay(t *testing.T, cert *tls.Certificate, head, body string) coretest.Answer {
	t.Helper()
	conf := &tls.Config{RootCAs: c.CA.Pool, ServerName: "localhost"}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.Dial("tcp", c.Addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head = strings.ReplaceAll(head, "HOSTPORT", c.Addr)
	head = strings.ReplaceAll(head, "LENGTH", fmt.Sprint(len(body)))
	raw := strings.ReplaceAll(head, "\n", "\r\n") + "\r\n" + body
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return coretest.Read(t, resp)
}

var prefixes = []string{"/api/v2", "/api"}
