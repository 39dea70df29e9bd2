package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// forged is what a client appends after a newline to pass it off as a log line of its
// own (an ERROR the operator would chase); the date makes it easy to spot.
const forged = "1999-01-01T00:00:00 deadbeef [E] FORGED"

// Names with control characters, sent to public and authenticated routes of the real
// binary, never put a raw control byte into a reply, a line of log_file or an entry
// of /logs: the escaping is central (logging's formatter and buffer, httpapi.Error),
// so whatever each feature answers, no line can be forged.
func TestNoRouteForgesALogLine(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "proxy.log")
	tftpRoot := filepath.Join(dir, "tftpboot")
	writeFile(t, tftpRoot, "pxelinux.0", "pxelinux")
	autosign := writeFile(t, dir, "autosign.conf", "")
	px := startProxy(t, p, ":trusted_hosts: "+trustedHosts+"\n:log_file: "+logFile+"\n", map[string]string{
		"httpboot.yml": ":enabled: true\n:root_dir: " + tftpRoot + "\n",
		"tftp.yml":     ":enabled: https\n:tftproot: " + tftpRoot + "\n:listen: false\n",
		"dns.yml":      ":enabled: https\n:use_provider: dns_embedded\n",
		"dns_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:%d\n:state_dir: %s\n:zones:\n  - example.test\n",
			freePort(t), filepath.Join(dir, "dns")),
		"dhcp.yml": ":enabled: https\n:use_provider: dhcp_embedded\n",
		"dhcp_embedded.yml": fmt.Sprintf(":interfaces: []\n:listen: 127.0.0.1:%d\n:state_dir: %s\n:fsync: false\n"+
			":subnets:\n  - :network: 192.168.122.0\n    :netmask: 255.255.255.0\n", freePort(t), filepath.Join(dir, "dhcp")),
		"puppetca.yml":                       ":enabled: https\n:use_provider: puppetca_hostname_whitelisting\n",
		"puppetca_hostname_whitelisting.yml": ":autosignfile: " + autosign + "\n",
		"puppetca_http_api.yml":              ":puppet_url: http://127.0.0.1:1\n",
	})
	foreman := p.client(t, &p.trusted)
	if _, features := send(t, foreman, http.MethodGet, px.httpsURL+"/features", nil); features != `["dhcp","dns","httpboot","logs","puppetca","tftp"]` {
		_, v2 := send(t, foreman, http.MethodGet, px.httpsURL+"/v2/features", nil)
		t.Fatalf("features running: %s\n%s", features, v2)
	}
	for _, c := range []struct {
		name, method, url string
		form              url.Values
	}{
		{"httpboot", http.MethodGet, px.httpURL + "/httpboot/pxelinux.0/%0a" + url.PathEscape(forged), nil},
		{"httpboot CR", http.MethodGet, px.httpURL + "/httpboot/%0d%0a" + url.PathEscape(forged), nil},
		{"dns", http.MethodPost, px.httpsURL + "/dns/", url.Values{"fqdn": {"x\n" + forged + ".example.test"}, "value": {"192.0.2.10"}, "type": {"A"}}},
		{"puppetca autosign", http.MethodPost, px.httpsURL + "/puppet/ca/autosign/a%0a" + url.PathEscape(forged), nil},
		{"dhcp", http.MethodPost, px.httpsURL + "/dhcp/192.168.122.0", url.Values{"hostname": {"h\n" + forged}, "ip": {"192.168.122.10"}, "mac": {"52:54:00:00:00:01"}}},
		{"tftp MAC", http.MethodPost, px.httpsURL + "/tftp/PXELinux/zz%0a" + url.PathEscape(forged), url.Values{"pxeconfig": {"x"}}},
		{"tftp variant", http.MethodGet, px.httpsURL + "/tftp/Bogus%0a" + url.PathEscape(forged) + "/52:54:00:00:00:01", nil},
		{"tftp fetch_boot_file", http.MethodPost, px.httpsURL + "/tftp/fetch_boot_file", url.Values{"prefix": {"boot/x\n" + forged}, "path": {"http://127.0.0.1:1/vmlinuz"}}},
	} {
		status, body := send(t, foreman, c.method, c.url, c.form)
		if status < 400 || status >= 500 {
			t.Errorf("%s: %d %q, want a 4xx", c.name, status, body)
		}
		if strings.ContainsAny(body, "\n\r\x00") {
			t.Errorf("%s: the reply carries a raw control byte: %q", c.name, body)
		}
	}

	status, body := send(t, foreman, http.MethodGet, px.httpsURL+"/logs", nil)
	var logs struct {
		Logs []struct{ Message, Backtrace string } `json:"logs"`
	}
	if err := json.Unmarshal([]byte(body), &logs); status != 200 || err != nil {
		t.Fatalf("/logs: %d %v", status, err)
	}
	seen := 0
	for _, e := range logs.Logs {
		if strings.ContainsAny(e.Message+e.Backtrace, "\n\r\x00") || strings.HasPrefix(e.Message, forged) {
			t.Errorf("/logs entry not escaped: %q", e.Message)
		}
		if strings.Contains(e.Message, "FORGED") {
			seen++
		}
	}
	if seen < 8 {
		t.Errorf("/logs shows the forging attempts %d times, want each request (escaped)", seen)
	}

	written, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d [0-9a-f]* ?\[[DIWEF]\] `)
	for _, l := range strings.Split(strings.TrimSuffix(string(written), "\n"), "\n") {
		if !line.MatchString(l) || strings.HasPrefix(l, "1999-") || strings.ContainsAny(l, "\r\x00") {
			t.Errorf("log_file line not one of the proxy's: %q", l)
		}
	}
	if !strings.Contains(string(written), `\n`+forged) {
		t.Errorf("log_file does not show the attempts escaped:\n%s", written)
	}
}

// send is one request (form url-encoded when given); it returns status and body.
func send(t *testing.T, client *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
