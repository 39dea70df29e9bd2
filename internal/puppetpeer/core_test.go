package puppetpeer

// foreman-core for the Puppet tests: core/api and core/puppet over SQLite behind https
// on 127.0.0.1, with a certificate of the Puppet CA and client certificates verified
// against that CA, so Puppet Server's own certificate identifies it to the core as
// the registered smart proxy at 127.0.0.1 with the Puppet feature (foreman-clients.md §5).
// Puppet Server reaches it through our ENC script (core/puppet/clients/node.rb, run
// by enc.sh with a foreman.yaml) and Puppet's own `http` report processor.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
)

const coreAdminPassword = "puppetpeer admin password"

func (l *lab) coreCert() string    { return l.path("core", "core.test.pem") }
func (l *lab) coreKey() string     { return l.path("core", "core.test.key") }
func (l *lab) foremanYAML() string { return l.path("etc", "foreman.yaml") }

// nodeScript is the ENC script shipped in the repository.
func nodeScript() (string, error) { return filepath.Abs("../../core/puppet/clients/node.rb") }

// writeCoreClients writes what Puppet Server runs to reach the core: foreman.yaml
// (the keys Foreman's enc.rb reads) and enc.sh, which runs node.rb with it and keeps
// its stderr in log/enc.log.
func (l *lab) writeCoreClients() error {
	if err := os.MkdirAll(l.path("core"), 0o755); err != nil {
		return err
	}
	script, err := nodeScript()
	if err != nil {
		return err
	}
	settings := fmt.Sprintf("---\n:url: \"https://127.0.0.1:%d\"\n:ssl_ca: %q\n:ssl_cert: %q\n:ssl_key: %q\n:puppetdir: %q\n"+
		":facts: true\n:fact_extension: \"json\"\n:timeout: 60\n", l.corePort, l.caBundle(),
		l.path("etc", "ssl", "certs", "puppet.test.pem"), l.path("etc", "ssl", "private_keys", "puppet.test.pem"), l.path("var"))
	if err := os.WriteFile(l.foremanYAML(), []byte(settings), 0o644); err != nil {
		return err
	}
	enc := fmt.Sprintf("#!/bin/sh\nFOREMAN_ENC_SETTINGS=%q exec /usr/bin/ruby %q \"$@\" 2>>%q\n",
		l.foremanYAML(), script, l.path("log", "enc.log"))
	return os.WriteFile(l.path("enc.sh"), []byte(enc), 0o755)
}

type coreLab struct {
	url     string
	store   *store.Store
	srv     *http.Server
	user    *http.Client // admin over Basic auth, trusting the Puppet CA
	logFile string
	logOut  *os.File
}

// startCore issues core.test, opens the store and serves the core on corePort. The
// core calls smart proxies as proxy.test (the lab proxy's trusted_hosts).
func startCore(l *lab) (*coreLab, error) {
	if err := l.issueCertificate("core.test", l.coreCert(), l.coreKey()); err != nil {
		return nil, err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, l.path("core", "foreman-core.db"))
	if err != nil {
		return nil, err
	}
	c := &coreLab{url: fmt.Sprintf("https://127.0.0.1:%d", l.corePort), store: st, logFile: l.path("log", "core.log")}
	hash, err := auth.HashPassword(coreAdminPassword)
	if err != nil {
		return nil, err
	}
	if _, err := st.CreateUser(ctx, "admin", hash, true); err != nil {
		return nil, err
	}
	if c.logOut, err = os.Create(c.logFile); err != nil {
		return nil, err
	}
	log := logrus.New()
	log.SetOutput(c.logOut)
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(auth.Config{RestrictRegisteredProxies: true, Log: log}, dir, dir)
	if err != nil {
		return nil, err
	}
	toProxies, err := tlsclient.Config(l.caBundle(), l.proxyCert(), l.proxyKey())
	if err != nil {
		return nil, err
	}
	app := api.New(api.Options{Store: st, Auth: authenticator, Proxies: proxies.NewClient(toProxies, time.Minute), Log: log})
	puppet.Mount(app, puppet.Options{Store: st, Auth: authenticator, Log: log,
		CreateHostsFromFacts: true, CreateHostsFromReports: true, EncEnvironment: true})
	pair, err := tls.LoadX509KeyPair(l.coreCert(), l.coreKey())
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(l.caBundle())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.corePort))
	if err != nil {
		return nil, err
	}
	c.srv = &http.Server{Handler: app, ErrorLog: nil, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair},
		ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}}
	go c.srv.ServeTLS(ln, "", "")
	c.user = &http.Client{Timeout: time.Minute, Transport: basicAuth{next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	return c, nil
}

type basicAuth struct{ next http.RoundTripper }

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r.SetBasicAuth("admin", coreAdminPassword)
	return b.next.RoundTrip(r)
}

func (c *coreLab) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	c.store.Close()
	c.logOut.Close()
}

// call sends a JSON body (nil: none) as the admin and decodes the JSON answer.
func (c *coreLab) call(method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.user.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, out, nil
}

// registerProxy registers the lab's smart proxy in the core, as the installer would:
// the core discovers its Puppet and Puppet CA features over mTLS.
func (c *coreLab) registerProxy(p *proxy) error {
	status, out, err := c.call("POST", "/api/v2/smart_proxies", map[string]any{"smart_proxy": map[string]any{"name": "puppet-lab", "url": p.url}})
	if err != nil {
		return err
	}
	if status != 201 {
		return fmt.Errorf("registering the proxy in the core: %d %v", status, out)
	}
	features, _ := json.Marshal(out["features"])
	if !bytes.Contains(features, []byte(`"name":"Puppet"`)) {
		return errors.New("registered proxy lacks the Puppet feature: " + string(features))
	}
	return nil
}
