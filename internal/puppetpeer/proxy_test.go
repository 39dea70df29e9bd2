package puppetpeer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/puppet"
	"github.com/smartproxy/smartproxy/features/puppetca"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// proxy is our smart proxy, in this process, serving https on 127.0.0.1 with
// proxy.test's certificate and talking to the lab's Puppet Server as proxy.test.
type proxy struct {
	url     string
	logFile string
	client  *http.Client
	srv     *server.Server
	reg     *registry.Registry
	logOut  *os.File
}

func startProxy(l *lab, settingsPath string, port int) (*proxy, error) {
	dir := filepath.Dir(settingsPath)
	sd := filepath.Join(dir, "settings.d")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return nil, err
	}
	tlsFiles := fmt.Sprintf(":puppet_url: %s\n:puppet_ssl_ca: %s\n:puppet_ssl_cert: %s\n:puppet_ssl_key: %s\n",
		l.url(), l.caBundle(), l.proxyCert(), l.proxyKey())
	files := map[string]string{
		"settings.yml": fmt.Sprintf(":settings_directory: %s\n:bind_host: ['127.0.0.1']\n:https_port: %d\n:log_file: STDOUT\n"+
			":ssl_certificate: %s\n:ssl_private_key: %s\n:ssl_ca_file: %s\n:trusted_hosts: [proxy.test]\n",
			sd, port, l.proxyCert(), l.proxyKey(), l.caBundle()),
		"settings.d/puppet.yml":                      ":enabled: https\n",
		"settings.d/puppet_proxy_puppet_api.yml":     tlsFiles + ":api_timeout: 60\n",
		"settings.d/puppetca.yml":                    ":enabled: https\n:use_provider: puppetca_token_whitelisting\n",
		"settings.d/puppetca_http_api.yml":           tlsFiles,
		"settings.d/puppetca_token_whitelisting.yml": fmt.Sprintf(":tokens_file: %s/tokens.yml\n", dir),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	global, err := settings.LoadGlobal(settingsPath, func(string) {})
	if err != nil {
		return nil, err
	}
	p := &proxy{url: fmt.Sprintf("https://127.0.0.1:%d", port), logFile: filepath.Join(dir, "proxy.log")}
	if p.logOut, err = os.Create(p.logFile); err != nil {
		return nil, err
	}
	log := logrus.New()
	log.SetOutput(p.logOut)
	log.SetLevel(logrus.DebugLevel)
	p.reg = registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, puppet.New(), puppetca.New())
	p.reg.Load()
	p.reg.Start(context.Background())
	for _, name := range []string{"puppet", "puppetca"} {
		if state, err := p.reg.StateOf(name); state != registry.Running {
			return nil, fmt.Errorf("proxy feature %s is %s: %v", name, state, err)
		}
	}
	p.srv = server.New(server.Options{Global: global, Registry: p.reg, Log: log, Version: "3.11.0"})
	if err := p.srv.Start(); err != nil {
		return nil, err
	}
	// Foreman's side: a client presenting proxy.test's certificate (trusted_hosts).
	pair, err := tls.LoadX509KeyPair(l.proxyCert(), l.proxyKey())
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(l.caBundle())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	p.client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}}}
	return p, nil
}

func (p *proxy) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	p.reg.Stop(ctx)
	p.logOut.Close()
}

type reply struct {
	status int
	body   string
}

func (p *proxy) do(t *testing.T, method, path string, form url.Values) reply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, p.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: string(data)}
}
