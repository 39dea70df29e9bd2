package zones

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	oauthKey      = "zones-consumer-key"
	oauthSecret   = "zones-consumer-secret-0123456789"
	adminPassword = "zones-admin-password"
	coreName      = "foreman.core.test"
	dmzName       = "dmz-relay"
	pfsName       = "pfs-proxy"
	puppetName    = "puppet.pfs.test"
	adminName     = "admin.pfs.test" // an admin's client certificate in PFS, to look at the proxy's API
	pfsProxyAlias = "pfs1"           // the PFS proxy's name on the DMZ relay's /proxy/<name>
	domainName    = "zones.test"
)

// pki is a CA folder made and used with the real `smart-proxy ca`.
type pki struct {
	t   *testing.T
	dir string
}

type certFiles struct{ cert, key string }

func newPKI(t *testing.T, dir, name string) *pki {
	p := &pki{t: t, dir: dir}
	p.run("init", "--name", name)
	return p
}

// run is `smart-proxy ca <args> --dir <dir>`.
func (p *pki) run(args ...string) string {
	p.t.Helper()
	cmd := append([]string{"ca"}, args...)
	cmd = append(cmd, "--dir", p.dir)
	b, err := exec.Command(bin.proxy, cmd...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("smart-proxy %s: %v\n%s", strings.Join(cmd, " "), err, b)
	}
	return string(b)
}

func (p *pki) issue(name string, sans ...string) certFiles {
	p.t.Helper()
	args := []string{"issue", name}
	if len(sans) > 0 {
		args = append(args, "--san", strings.Join(sans, ","))
	}
	p.run(args...)
	return certFiles{cert: filepath.Join(p.dir, "issued", name+".pem"), key: filepath.Join(p.dir, "issued", name+"-key.pem")}
}

func (p *pki) caFile() string  { return filepath.Join(p.dir, "ca.pem") }
func (p *pki) crlFile() string { return filepath.Join(p.dir, "crl.pem") }

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	b, err := os.ReadFile(p.caFile())
	if err != nil || !pool.AppendCertsFromPEM(b) {
		p.t.Fatalf("CA file %s: %v", p.caFile(), err)
	}
	return pool
}

// client is an https client dialing from inside ns (from local address from, if
// set) that trusts p's CA and presents cert (none when cert.cert is empty).
func (p *pki) client(ns, from string, cert certFiles) *http.Client {
	p.t.Helper()
	conf := &tls.Config{RootCAs: p.pool()}
	if cert.cert != "" {
		pair, err := tls.LoadX509KeyPair(cert.cert, cert.key)
		if err != nil {
			p.t.Fatal(err)
		}
		// Always sent, as curl does: Go's client would send nothing to a server whose
		// list of acceptable CAs lacks the certificate's issuer.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	tr := &http.Transport{DialContext: dialIn(ns, from), TLSClientConfig: conf}
	p.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends one request; a transport error is returned, not fatal (some are expected).
func do(c *http.Client, method, url, contentType, body string, header map[string]string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// coreAPI talks to foreman-core's API as admin from inside CORE.
type coreAPI struct {
	t      *testing.T
	url    string
	client *http.Client
}

// call is an API request as admin with HTTP Basic; it returns status and decoded body.
func (c *coreAPI) call(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			c.t.Fatalf("%s %s: %d %s: not a JSON object: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, v
}

// id calls the API and returns the id of the object answered (200 or 201).
func (c *coreAPI) id(method, path, body string) int64 {
	c.t.Helper()
	status, v := c.call(method, path, body)
	if status != 201 && status != 200 {
		c.t.Fatalf("%s %s: %d %v", method, path, status, v)
	}
	return int64(v["id"].(float64))
}

// proxy is the URL and the feature names the core stored for the proxy named name.
func (c *coreAPI) proxy(name string) (string, []string) {
	c.t.Helper()
	status, v := c.call("GET", "/api/v2/smart_proxies/"+name, "")
	if status != 200 {
		c.t.Fatalf("proxy %s: %d %v", name, status, v)
	}
	var names []string
	list, _ := v["features"].([]any)
	for _, f := range list {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	return v["url"].(string), names
}

func containsEach(list []string, want ...string) bool {
	have := map[string]bool{}
	for _, s := range list {
		have[s] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}
