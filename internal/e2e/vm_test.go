package e2e

// A VM provisioned end to end (issue 12): foreman-core and a smart-proxy with embedded
// DHCP, DNS, TFTP and the templates relay run in a network namespace; a host created
// through the core's API gets its DNS records, reservation and PXE configs on the
// proxy; a QEMU guest with the host's MAC PXE-boots from them and reports built; the
// host's deletion leaves nothing behind.
//
// The guest has no disk and runs no real installer. Its "installer" is iPXE: the
// medium serves ipxe.lkrn as the kernel, and the admin's template overrides (the
// core's templates_dir, pxeboot.StandInPXELinux and StandInKickstart) make the PXELinux config hand iPXE a command line that chains
// the host's provisioning template, itself an iPXE script that calls built, where a
// kickstart's %post would. Everything else is what production runs.

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

const (
	vmServerIP  = "10.97.0.1" // the proxy's address on the guest's link
	vmIP        = "10.97.0.50"
	vmMAC       = "52:54:00:97:00:50"
	vmHost      = "vm01.example.test"
	vmProxyName = "proxy.example.test"
	pxelinuxBin = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	ipxeLkrn    = "/usr/lib/ipxe/ipxe.lkrn"
	// ROM DHCP, pxelinux, iPXE as the kernel, its own DHCP and two HTTP fetches, under
	// TCG on a loaded 2-CPU machine.
	vmBootLimit = 240 * time.Second
)

func TestVMProvisioningEndToEnd(t *testing.T) {
	qemu := pxeboot.RequireQEMU(t)
	for _, f := range []string{pxelinuxBin, ldlinuxC32, ipxeLkrn} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing (apt-get install pxelinux syslinux-common ipxe)", f)
		}
	}
	for _, tool := range []string{"dig", "tftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install bind9-dnsutils tftp-hpa)", tool)
		}
	}
	ns, tap := pxeboot.NewNetns(t, "spe2evm", vmServerIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)
	lkrn, err := os.ReadFile(ipxeLkrn)
	if err != nil {
		t.Fatal(err)
	}
	mediumURL := pxeboot.StartStandInMedium(t, ns, "127.0.0.1:0", lkrn)

	templates := t.TempDir()
	writeFile(t, filepath.Join(templates, "pxelinux.tmpl"), pxeboot.StandInPXELinux)
	writeFile(t, filepath.Join(templates, "kickstart.tmpl"), pxeboot.StandInKickstart)
	s := startCoreIn(t, ns, fmt.Sprintf("templates_dir: %s\ndns_conflict_servers: ['%s:53']\n", templates, vmServerIP))
	p, tftproot := s.startVMProxy(t, tap)
	code, out := s.register(t, p, "--url", p.url)
	if code != 0 || !strings.Contains(out, "Created smart proxy "+vmProxyName) {
		t.Fatalf("register: exit %d:\n%s", code, out)
	}
	if _, features := s.stored(t, vmProxyName); !containsEach(features, "DHCP", "DNS", "TFTP", "Templates") {
		t.Fatalf("registered features %v", features)
	}

	// The subnet comes from the proxy's DHCP server; the admin completes it.
	proxyID := s.idOf(t, "GET", "/api/v2/smart_proxies/"+vmProxyName, "")
	status, imported := s.call(t, "POST", fmt.Sprintf("/api/v2/smart_proxies/%d/import_subnets", proxyID), "")
	results, _ := imported["results"].([]any)
	if status != 201 || len(results) != 1 {
		t.Fatalf("import_subnets: %d %v", status, imported)
	}
	subnet := results[0].(map[string]any)
	if subnet["network"] != "10.97.0.0" || subnet["gateway"] != vmServerIP || subnet["dns_primary"] != vmServerIP {
		t.Fatalf("imported subnet %v", subnet)
	}
	subnetID := int64(subnet["id"].(float64))
	domain := s.idOf(t, "POST", "/api/v2/domains", fmt.Sprintf(`{"domain":{"name":"example.test","dns_id":%d}}`, proxyID))
	s.idOf(t, "PUT", fmt.Sprintf("/api/v2/subnets/%d", subnetID), fmt.Sprintf(
		`{"subnet":{"domain_ids":[%d],"dns_id":%[2]d,"tftp_id":%[2]d,"template_id":%[2]d}}`, domain, proxyID))
	arch := s.idOf(t, "POST", "/api/v2/architectures", `{"architecture":{"name":"x86_64"}}`)
	opsys := s.idOf(t, "POST", "/api/v2/operatingsystems", fmt.Sprintf(
		`{"operatingsystem":{"name":"AlmaLinux","major":"9","minor":"4","family":"Redhat","architecture_ids":[%d]}}`, arch))
	medium := s.idOf(t, "POST", "/api/v2/media", fmt.Sprintf(
		`{"medium":{"name":"alma","path":"%s/almalinux/$version/BaseOS/$arch/os","os_family":"Redhat","operatingsystem_ids":[%d]}}`, mediumURL, opsys))

	marker := fmt.Sprintf("SPE2EVM-%d-%d", os.Getpid(), time.Now().UnixNano())
	host := s.idOf(t, "POST", "/api/v2/hosts", fmt.Sprintf(`{"host":{"name":"vm01","domain_id":%d,"subnet_id":%d,"mac":%q,"ip":%q,`+
		`"architecture_id":%d,"operatingsystem_id":%d,"medium_id":%d,"pxe_loader":"PXELinux BIOS","build":true,`+
		`"host_parameters_attributes":[{"name":"e2e_marker","value":%q}]}}`,
		domain, subnetID, vmMAC, vmIP, arch, opsys, medium, marker))

	// Created: DNS, DHCP and TFTP as the guest and the admin see them.
	if a := s.dig(t, vmHost, "A"); a != vmIP {
		t.Fatalf("dig %s A: %q", vmHost, a)
	}
	if ptr := s.dig(t, "-x", vmIP); ptr != vmHost+"." {
		t.Fatalf("dig -x %s: %q", vmIP, ptr)
	}
	resStatus, res := s.proxyGet(t, p, "/dhcp/10.97.0.0/mac/"+vmMAC)
	if resStatus != 200 || !strings.Contains(res, `"ip":"`+vmIP+`"`) || !strings.Contains(res, `"filename":"pxelinux.0"`) ||
		!strings.Contains(res, `"nextServer":"`+vmServerIP+`"`) {
		t.Fatalf("reservation: %d %s", resStatus, res)
	}
	pxeFile := "pxelinux.cfg/01-" + strings.ReplaceAll(vmMAC, ":", "-")
	perMAC := []string{pxeFile, pxeFile + ".ipxe", "grub2/grub.cfg-01-" + strings.ReplaceAll(vmMAC, ":", "-")}
	for _, f := range perMAC {
		if _, ok := s.tftpGet(t, f); !ok {
			t.Fatalf("%s not served over TFTP after create", f)
		}
	}
	cfg, _ := s.tftpGet(t, pxeFile)
	m := regexp.MustCompile(`(?m)^  KERNEL (boot/\S+-vmlinuz)\n  APPEND dhcp && chain http://` + regexp.QuoteMeta(vmServerIP) +
		`:8000/unattended/provision\?token=([0-9a-f-]{36})$`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatalf("PXELinux config at create:\n%s", cfg)
	}
	kernel, token := m[1], m[2]
	// fetch_boot_file downloads in the background: the guest needs the whole kernel.
	waitFile(t, filepath.Join(tftproot, kernel), lkrn)

	// The guest boots and reports built; the proxy served each step.
	guest := pxeboot.StartGuest(t, ns, vmBootLimit, qemu, pxeboot.BIOSArgs(tap, vmMAC)...)
	logConsoleOnFailure(t, "first boot", guest)
	console := guest.WaitFor(t, marker, vmBootLimit)
	guest.Stop() // it holds the tap
	if !strings.Contains(console, marker+" reported built") {
		t.Fatalf("the guest did not report built:\n%s", console)
	}
	if !strings.Contains(console, "net0: "+vmIP+"/") || !strings.Contains(console, "stand-in installer of "+vmHost+" at "+vmIP) {
		t.Fatalf("the guest did not get the reserved address %s:\n%s", vmIP, console)
	}
	for _, line := range []string{`TFTP: sent "pxelinux.0"`, `TFTP: sent "` + pxeFile + `"`, `TFTP: sent "` + kernel + `"`,
		"GET /unattended/provision?token=" + token + " ", "GET /unattended/built?token=" + token + " "} {
		waitOutput(t, p.proc, line)
	}

	// Built: out of build, the local-boot config deployed, the token gone.
	if status, v := s.call(t, "GET", fmt.Sprintf("/api/v2/hosts/%d", host), ""); status != 200 || v["build"] != false {
		t.Fatalf("host after built: %d build=%v", status, v["build"])
	}
	if status, v := s.call(t, "GET", fmt.Sprintf("/api/v2/hosts/%d/tasks", host), ""); status != 200 || v["operation"] != "built" || !allCompleted(v) {
		t.Fatalf("task list after built: %d %v", status, v)
	}
	if cfg, ok := s.tftpGet(t, pxeFile); !ok || !strings.Contains(cfg, "LOCALBOOT 0") || strings.Contains(cfg, "token") {
		t.Fatalf("PXELinux config after built (served %v):\n%s", ok, cfg)
	}
	if status, body := s.hostGet(t, "http://"+vmServerIP+":8000/unattended/provision?token="+token); status != 404 {
		t.Fatalf("provisioning template after built: %d %s", status, body)
	}

	// Booted again, the guest reads the same per-MAC file and boots its disk.
	sent := strings.Count(p.proc.out.String(), `TFTP: sent "`+pxeFile+`" to `+vmIP)
	again := pxeboot.StartGuest(t, ns, vmBootLimit, qemu, pxeboot.BIOSArgs(tap, vmMAC)...)
	logConsoleOnFailure(t, "second boot", again)
	again.WaitFor(t, "Booting from local disk...", vmBootLimit)
	again.Stop()
	if now := strings.Count(p.proc.out.String(), `TFTP: sent "`+pxeFile+`" to `+vmIP); now != sent+1 {
		t.Fatalf("the rebooted guest fetched %s %d times, want once", pxeFile, now-sent)
	}

	// Deleted: no record left on the proxy.
	if status, v := s.call(t, "DELETE", fmt.Sprintf("/api/v2/hosts/%d", host), ""); status != 200 {
		t.Fatalf("delete: %d %v", status, v)
	}
	if a := s.dig(t, vmHost, "A"); a != "" {
		t.Errorf("A after delete: %q", a)
	}
	if ptr := s.dig(t, "-x", vmIP); ptr != "" {
		t.Errorf("PTR after delete: %q", ptr)
	}
	if status, body := s.proxyGet(t, p, "/dhcp/10.97.0.0/mac/"+vmMAC); status != 404 {
		t.Errorf("reservation after delete: %d %s", status, body)
	}
	for _, f := range perMAC {
		if _, ok := s.tftpGet(t, f); ok {
			t.Errorf("%s still served over TFTP after delete", f)
		}
	}
}

// logConsoleOnFailure shows the guest's serial console if the test fails.
func logConsoleOnFailure(t *testing.T, name string, g *pxeboot.Guest) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial console of the %s:\n%s", name, g.Console())
		}
	})
}

// startVMProxy runs smart-proxy in the namespace: https API on vmServerIP:8443 for the
// core, templates on http :8000 for the guest, embedded DHCP on tap, DNS and TFTP on
// vmServerIP. It returns the proxy and its TFTP root (holding pxelinux, as an admin
// installs it).
func (s *site) startVMProxy(t *testing.T, tap string) (*smartProxy, string) {
	t.Helper()
	dir := filepath.Join(s.dir, "proxy")
	cert := s.ca.Issue(t, testpki.Spec{CN: vmProxyName, DNSNames: []string{vmProxyName}, IPs: []net.IP{net.ParseIP(vmServerIP)}})
	tftproot := filepath.Join(dir, "tftpboot")
	for _, f := range []string{pxelinuxBin, ldlinuxC32} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(tftproot, filepath.Base(f)), string(b))
	}
	sd := filepath.Join(dir, "settings.d")
	writeFile(t, filepath.Join(sd, "dhcp.yml"), ":enabled: https\n:use_provider: dhcp_embedded\n:ping_free_ip: false\n")
	writeFile(t, filepath.Join(sd, "dhcp_embedded.yml"), fmt.Sprintf(`:interfaces: [%s]
:state_dir: %s
:fsync: false
:subnets:
  - :network: 10.97.0.0
    :netmask: 255.255.255.0
    :range: [10.97.0.100, 10.97.0.150]
    :routers: [%[3]s]
    :domain_name_servers: [%[3]s]
    :domain_name: example.test
`, tap, filepath.Join(dir, "dhcp"), vmServerIP))
	writeFile(t, filepath.Join(sd, "dns.yml"), ":enabled: https\n:use_provider: dns_embedded\n:dns_ttl: 60\n")
	writeFile(t, filepath.Join(sd, "dns_embedded.yml"), fmt.Sprintf(
		":listen: %s:53\n:state_dir: %s\n:zones:\n  - example.test\n  - 0.97.10.in-addr.arpa\n", vmServerIP, filepath.Join(dir, "dns")))
	writeFile(t, filepath.Join(sd, "tftp.yml"), fmt.Sprintf(":enabled: https\n:tftproot: %s\n:listen: %s:69\n", tftproot, vmServerIP))
	writeFile(t, filepath.Join(sd, "templates.yml"), ":enabled: true\n:template_url: http://"+vmServerIP+":8000\n")
	settings := writeFile(t, filepath.Join(dir, "settings.yml"), fmt.Sprintf(`---
:settings_directory: %s
:bind_host: ['%s']
:https_port: 8443
:http_port: 8000
:ssl_certificate: %s
:ssl_private_key: %s
:ssl_ca_file: %s
:trusted_hosts: ['foreman.example.test']
:foreman_url: %s
:log_file: STDOUT
:log_level: DEBUG
`, sd, vmServerIP, cert.CertFile, cert.KeyFile, s.ca.CAFile, s.coreURL))
	addr := vmServerIP + ":8443"
	proc := startIn(t, s.ns, vmProxyName, addr, bin.proxy, "--settings", settings)
	return &smartProxy{name: vmProxyName, url: "https://" + addr, settings: settings, proc: proc}, tftproot
}

// idOf calls the API and returns the id of the object answered (200 or 201).
func (s *site) idOf(t *testing.T, method, path, body string) int64 {
	t.Helper()
	status, v := s.call(t, method, path, body)
	if status != 201 && status != 200 {
		t.Fatalf("%s %s: %d %v", method, path, status, v)
	}
	return int64(v["id"].(float64))
}

// dig asks the proxy's embedded DNS server with the real dig, from the namespace.
func (s *site) dig(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"+short", "+time=5", "+tries=2", "@" + vmServerIP}, args...)
	out, err := pxeboot.Command(s.ns, "dig", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// tftpGet fetches file from the proxy's TFTP server with the real tftp-hpa client;
// ok is false when the server refuses it.
func (s *site) tftpGet(t *testing.T, file string) (content string, ok bool) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "got")
	out, err := pxeboot.Command(s.ns, "tftp", vmServerIP, "-c", "get", file, dest).CombinedOutput()
	data, readErr := os.ReadFile(dest)
	if err != nil || readErr != nil || strings.Contains(string(out), "Error") {
		return string(out), false
	}
	return string(data), true
}

// proxyGet asks the proxy's API over https with the core's client certificate.
func (s *site) proxyGet(t *testing.T, p *smartProxy, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: pxeboot.DialIn(s.ns),
		TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool, Certificates: []tls.Certificate{s.client.TLS}}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hostGet is a plain-http request from the namespace, as a host being built makes.
func (s *site) hostGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: pxeboot.DialIn(s.ns)}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFile waits until path holds want (a background download finishing).
func waitFile(t *testing.T, path string, want []byte) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got, err := os.ReadFile(path); err == nil && string(got) == string(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held the %d bytes of the medium's kernel", path, len(want))
		}
	}
}

// waitOutput fails the test unless line shows up in p's output soon: a log line is
// written after the response, so it may trail the guest's console by a moment.
func waitOutput(t *testing.T, p *process, line string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.out.String(), line); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the proxy's log", line)
		}
	}
}

// allCompleted reports whether a task list has tasks, all completed.
func allCompleted(list map[string]any) bool {
	tasks, _ := list["tasks"].([]any)
	for _, task := range tasks {
		if task.(map[string]any)["status"] != "completed" {
			return false
		}
	}
	return len(tasks) > 0
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
