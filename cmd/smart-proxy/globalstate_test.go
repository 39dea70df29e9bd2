package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// settingsPath is the settings.yml the proxy runs with.
func (px *proxy) settingsPath() string { return px.cmd.Args[2] }

// globalEtcd is settings.yml's global form of the shared-state keys.
func globalEtcd(c *etcdtest.Cluster) string {
	return fmt.Sprintf(":state_backend: etcd\n:etcd_endpoints: [%s]\n:etcd_ca: %s\n:etcd_cert: %s\n:etcd_key: %s\n:etcd_timeout: 5\n:etcd_prefix: /global/\n",
		strings.Join(c.Endpoints(), ", "), c.CA.CAFile, c.Client.CertFile, c.Client.KeyFile)
}

// globalNode is one proxy whose module files name no state backend at all.
type globalNode struct {
	px       *proxy
	dnsPort  int
	tftproot string
	autosign string
}

func startGlobalNode(t *testing.T, p *pki, c *etcdtest.Cluster) globalNode {
	t.Helper()
	dir := t.TempDir()
	n := globalNode{dnsPort: freeUDPPort(t), tftproot: filepath.Join(dir, "tftpboot"), autosign: filepath.Join(dir, "autosign.conf")}
	if err := os.MkdirAll(n.tftproot, 0o755); err != nil {
		t.Fatal(err)
	}
	n.px = startProxy(t, p, globalEtcd(c), map[string]string{
		"dhcp.yml": ":enabled: true\n",
		// A state_dir nobody may write: the journal must not be what keeps the state.
		"dhcp_embedded.yml":                  ":listen: 127.0.0.1:0\n:state_dir: /nonexistent/dhcp\n:subnets:\n  - :network: 192.168.122.0\n    :netmask: 255.255.255.0\n",
		"dns.yml":                            ":enabled: true\n:use_provider: dns_embedded\n",
		"dns_embedded.yml":                   fmt.Sprintf(":listen: 127.0.0.1:%d\n:zones: [example.test]\n", n.dnsPort),
		"tftp.yml":                           fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: false\n", n.tftproot),
		"puppetca.yml":                       ":enabled: true\n",
		"puppetca_http_api.yml":              ":puppet_url: https://127.0.0.1:1\n:puppet_ssl_ca: " + p.ca.CAFile + "\n",
		"puppetca_hostname_whitelisting.yml": ":autosignfile: " + n.autosign + "\n",
	})
	return n
}

func (n globalNode) do(t *testing.T, method, path string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.px.httpURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// lookupA asks the node's embedded DNS server.
func (n globalNode) lookupA(name string) []string {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", fmt.Sprintf("127.0.0.1:%d", n.dnsPort))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, _ := r.LookupHost(ctx, name)
	return addrs
}

// Issue 14, "per feature or global": settings.yml alone puts dhcp, dns, tftp and
// puppetca autosign on etcd. What node A's API writes node B serves, /v2/features
// shows the effective backend, check-config checks the cluster naming settings.yml.
func TestGlobalStateBackend(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	p := newPKI(t)
	a, b := startGlobalNode(t, p, cluster), startGlobalNode(t, p, cluster)

	for _, n := range []globalNode{a, b} {
		_, body := n.do(t, "GET", "/v2/features", nil)
		v2 := decodeV2(t, body)
		for _, f := range []string{"dhcp", "dns", "tftp", "puppetca"} {
			if v2[f].State != "running" || v2[f].Settings["state_backend"] != "etcd" {
				t.Fatalf("%s: state %s, settings %v; want running on etcd", f, v2[f].State, v2[f].Settings)
			}
		}
	}

	mustOK := func(status int, body string) {
		t.Helper()
		if status != 200 {
			t.Fatalf("write through A: %d %s", status, body)
		}
	}
	mustOK(a.do(t, "POST", "/dhcp/192.168.122.0", url.Values{"hostname": {"g1.example.test"}, "mac": {"52:54:00:77:00:01"}, "ip": {"192.168.122.77"}}))
	mustOK(a.do(t, "POST", "/dns/", url.Values{"fqdn": {"g1.example.test"}, "value": {"10.77.0.1"}, "type": {"A"}}))
	mustOK(a.do(t, "POST", "/tftp/pxelinux/52:54:00:77:00:01", url.Values{"pxeconfig": {"DEFAULT global\n"}}))
	mustOK(a.do(t, "POST", "/puppet/ca/autosign/g1.example.test", nil))

	start := time.Now()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node B: %s not seen 30 s after node A's writes", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the reservation", func() bool {
		status, body := b.do(t, "GET", "/dhcp/192.168.122.0/mac/52:54:00:77:00:01", nil)
		return status == 200 && strings.Contains(body, "192.168.122.77")
	})
	waitFor("the DNS record", func() bool { return strings.Join(b.lookupA("g1.example.test"), ",") == "10.77.0.1" })
	waitFor("the PXE config", func() bool {
		got, err := os.ReadFile(filepath.Join(b.tftproot, "pxelinux.cfg", "01-52-54-00-77-00-01"))
		return err == nil && string(got) == "DEFAULT global\n"
	})
	waitFor("the autosign entry", func() bool {
		_, body := b.do(t, "GET", "/puppet/ca/autosign", nil)
		got, _ := os.ReadFile(b.autosign)
		return strings.Contains(body, "g1.example.test") && strings.Contains(string(got), "g1.example.test")
	})
	t.Logf("all four writes through A served by B within %s", time.Since(start).Round(time.Millisecond))

	// Every key is under the global prefix.
	cli := cluster.Connect("/global/")
	defer cli.Close()
	resp, err := cli.Raw().Get(context.Background(), "/global/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, kv := range resp.Kvs {
		seen[strings.SplitN(strings.TrimPrefix(string(kv.Key), "/global/"), "/", 2)[0]] = true
	}
	for _, top := range []string{"dhcp", "dns", "tftp", "puppetca"} {
		if !seen[top] {
			t.Errorf("no key under /global/%s/ (keys: %v)", top, seen)
		}
	}

	out, code := runBinary(t, "check-config", "--settings", a.px.settingsPath())
	for _, module := range []string{"dhcp_embedded", "dns_embedded", "tftp", "puppetca_hostname_whitelisting"} {
		re := regexp.MustCompile(`(?m)^` + module + `\s+etcd ok: revision \d+ at .*, prefix /global/ \(backend from .*settings\.yml\)$`)
		if code != 0 || !re.MatchString(out) {
			t.Errorf("check-config does not report %s on the global backend (exit %d):\n%s", module, code, out)
		}
	}
	if strings.Contains(out, "puppetca_token_whitelisting") {
		t.Errorf("check-config checks the unused token provider:\n%s", out)
	}
}
