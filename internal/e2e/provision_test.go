package e2e

// Provisioning end to end, without a VM: foreman-core and a smart-proxy with the
// templates relay as processes; a host created in build through the API fetches its
// kickstart through the proxy (found by the MAC header Anaconda sends, then by its
// token) and the kickstart's own built command (real curl) takes it out of build.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

func TestProvisioningEndToEnd(t *testing.T) {
	s := startCore(t)
	// The proxy: https for the core, plain http for hosts being built.
	dir := filepath.Join(s.dir, "tp")
	cert := s.ca.Issue(t, testpki.Spec{CN: "tp.example.test", DNSNames: []string{"tp.example.test", "localhost"}, IPs: loopbackIPs})
	httpsPort, httpPort := freePort(t), freePort(t)
	templateURL := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	writeFile(t, filepath.Join(dir, "settings.d", "templates.yml"), ":enabled: true\n:template_url: "+templateURL+"\n")
	tftproot := filepath.Join(dir, "tftpboot")
	writeFile(t, filepath.Join(dir, "settings.d", "tftp.yml"), ":enabled: true\n:tftproot: "+tftproot+"\n:listen: false\n")
	settings := writeFile(t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(`---
:settings_directory: settings.d
:bind_host: ['127.0.0.1']
:https_port: %d
:http_port: %d
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:trusted_hosts: ['foreman.example.test']
:foreman_url: %s
:log_file: %s
`, httpsPort, httpPort, cert.CertFile, cert.KeyFile, s.ca.CAFile, s.coreURL, filepath.Join(dir, "proxy.log")))
	start(t, "smart-proxy", fmt.Sprintf("127.0.0.1:%d", httpsPort), bin.proxy, "--settings", settings)

	id := func(method, path, body string) int64 {
		t.Helper()
		status, v := s.call(t, method, path, body)
		if status != 201 && status != 200 {
			t.Fatalf("%s %s: %d %v", method, path, status, v)
		}
		return int64(v["id"].(float64))
	}
	proxyID := id("POST", "/api/v2/smart_proxies", fmt.Sprintf(`{"smart_proxy":{"name":"tp.example.test","url":"https://127.0.0.1:%d"}}`, httpsPort))
	if _, features := s.stored(t, "tp.example.test"); !strings.Contains(strings.Join(features, ","), "TFTP,Templates") {
		t.Fatalf("proxy features %v", features)
	}
	arch := id("POST", "/api/v2/architectures", `{"architecture":{"name":"x86_64"}}`)
	opsys := id("POST", "/api/v2/operatingsystems", fmt.Sprintf(`{"operatingsystem":{"name":"AlmaLinux","major":"9","minor":"4","family":"Redhat","architecture_ids":[%d]}}`, arch))
	medium := id("POST", "/api/v2/media", fmt.Sprintf(`{"medium":{"name":"alma","path":"http://mirror.test/almalinux/$version/BaseOS/$arch/os","os_family":"Redhat","operatingsystem_ids":[%d]}}`, opsys))
	domain := id("POST", "/api/v2/domains", `{"domain":{"name":"example.test"}}`)
	subnet := id("POST", "/api/v2/subnets", fmt.Sprintf(`{"subnet":{"name":"lab","network":"192.0.2.0","mask":"255.255.255.0","boot_mode":"DHCP","ipam":"None","template_id":%d,"tftp_id":%d,"domain_ids":[%d]}}`, proxyID, proxyID, domain))
	host := id("POST", "/api/v2/hosts", fmt.Sprintf(`{"host":{"name":"web01","domain_id":%d,"subnet_id":%d,"mac":"52:54:00:12:34:56","ip":"192.0.2.10","architecture_id":%d,"operatingsystem_id":%d,"medium_id":%d,"pxe_loader":"PXELinux BIOS","build":true}}`,
		domain, subnet, arch, opsys, medium))

	// Anaconda with inst.ks.sendmac, through the proxy.
	status, ks := get(t, templateURL+"/unattended/provision", map[string]string{"X-RHN-Provisioning-MAC-0": "eth0 52:54:00:12:34:56"})
	if status != 200 || !strings.Contains(ks, "url --url=http://mirror.test/almalinux/9.4/BaseOS/x86_64/os\n") {
		t.Fatalf("kickstart by MAC: %d\n%s", status, ks)
	}
	m := regexp.MustCompile(`(?m)^(/usr/bin/curl .*'` + regexp.QuoteMeta(templateURL) + `/unattended/built\?token=([0-9a-f-]{36})')$`).FindStringSubmatch(ks)
	if m == nil {
		t.Fatalf("kickstart has no built call through the proxy:\n%s", ks)
	}
	builtCmd, token := m[1], m[2]
	if status, again := get(t, templateURL+"/unattended/provision?token="+token, nil); status != 200 || again != ks {
		t.Fatalf("kickstart by token: %d", status)
	}

	// The PXELinux config the core deployed through the proxy at create boots the
	// installer with the same token.
	pxe := filepath.Join(tftproot, "pxelinux.cfg", "01-52-54-00-12-34-56")
	if cfg := readFile(t, pxe); !strings.Contains(cfg, " inst.ks="+templateURL+"/unattended/provision?token="+token+" ") {
		t.Fatalf("PXELinux config at create:\n%s", cfg)
	}

	// The %post's own command, run by sh with the real curl, its log in a temp file.
	if _, err := exec.LookPath("/usr/bin/curl"); err != nil {
		t.Skip("/usr/bin/curl not installed: the kickstart's built command cannot run")
	}
	log := writeFile(t, filepath.Join(t.TempDir(), "install.post.log"), "install log line 1\ninstall log line 2\n")
	cmd := strings.Replace(builtCmd, "/root/install.post.log", log, 1)
	if out, err := exec.Command("sh", "-c", cmd+` -w '%{http_code}'`).CombinedOutput(); err != nil || string(out) != "200" {
		t.Fatalf("%s: %v %q (the proxy answers 200 for the core's 201)", cmd, err, out)
	}
	status, v := s.call(t, "GET", fmt.Sprintf("/api/v2/hosts/%d", host), "")
	if status != 200 || v["build"] != false {
		t.Fatalf("host after built: %d build=%v", status, v["build"])
	}
	// Built re-deployed the local-boot config through the proxy; the token is gone.
	if cfg := readFile(t, pxe); !strings.Contains(cfg, "LOCALBOOT 0") || strings.Contains(cfg, "token") {
		t.Fatalf("PXELinux config after built:\n%s", cfg)
	}
	if status, body := get(t, templateURL+"/unattended/provision?token="+token, nil); status != 404 ||
		!strings.Contains(body, "unattended: unable to find a host that matches the request from 127.0.0.1") {
		t.Fatalf("kickstart after built: %d %s", status, body)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get is a host's plain-http request to the proxy.
func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
