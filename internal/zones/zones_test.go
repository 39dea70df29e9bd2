package zones

import (
	"fmt"
	"os"
	"path/filepath"

	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

const (
	pxelinuxBin = "/usr/lib/PXELINUX/pxelinux.0"
	ldlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
	hostMAC     = "52:54:00:13:00:50"
	hostIP      = "10.213.3.50"
	hostName    = "vm01." + domainName
)

// TestZonesEndToEnd is issue 13's CI test: CORE ↔ DMZ ↔ PFS, the smart proxy the only
// door between them (README.md).
func TestZonesEndToEnd(t *testing.T) {
	requireRoot(t)
	for _, tool := range []string{"dig", "tftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (apt-get install bind9-dnsutils tftp-hpa)", tool)
		}
	}
	qemu, kernel := requireVM(t)
	began := time.Now()
	templates := t.TempDir()
	writeFile(t, filepath.Join(templates, "pxelinux.tmpl"), pxeboot.StandInPXELinux)
	writeFile(t, filepath.Join(templates, "kickstart.tmpl"), pxeboot.StandInKickstart)
	s := startSite(t, "templates_dir: "+templates+"\n", kernel)

	// The zones: the DMZ reaches the core, PFS does not (DMZ forwards nothing), and the
	// core does not reach the PFS proxy.
	if err := connectFrom(s.z.dmz, coreIP+":8443", 5*time.Second); err != nil {
		t.Fatalf("DMZ cannot reach the core: %v", err)
	}
	if err := connectFrom(s.z.pfs, coreIP+":8443", 2*time.Second); err == nil {
		t.Fatal("PFS reached the core directly")
	} else {
		t.Logf("PFS → CORE %s: %v (as wanted)", coreIP, err)
	}
	if err := connectFrom(s.z.core, pfsIP+":8443", 2*time.Second); err == nil {
		t.Fatal("CORE reached the PFS proxy directly")
	}

	// Both proxies registered with `smart-proxy register`; the PFS one by its path on
	// the DMZ relay, which the core's discovery goes through.
	out := s.register(dmzName, s.dmzSettings, dmzURL)
	if !strings.Contains(out, "Created smart proxy "+dmzName) {
		t.Fatalf("register %s:\n%s", dmzName, out)
	}
	out = s.register(pfsName, s.pfsSettings, pfsRegURL)
	if !strings.Contains(out, "Created smart proxy "+pfsName) {
		t.Fatalf("register %s:\n%s", pfsName, out)
	}
	url, features := s.api.proxy(pfsName)
	if url != pfsRegURL || !containsEach(features, "DHCP", "DNS", "TFTP", "Templates") {
		t.Fatalf("the core stored %s with %s %v", pfsName, url, features)
	}
	s.dmz.waitLog("GET /v2/features", 30*time.Second)

	marker := fmt.Sprintf("ZONESVM-%d-%d", os.Getpid(), time.Now().UnixNano())
	hostID, token := s.createHost(t, marker)
	t.Logf("zones set up, proxies registered, host created: %v", time.Since(began).Round(100*time.Millisecond))

	s.bootAndBuild(t, qemu, hostID, token, marker)
	t.Logf("VM built: %v", time.Since(began).Round(100*time.Millisecond))

	s.factsAndReports(t)
	t.Logf("facts and reports done: %v", time.Since(began).Round(100*time.Millisecond))

	s.refusals(t)
	t.Logf("refusals done: %v", time.Since(began).Round(100*time.Millisecond))
}

// createHost makes the PFS subnet (imported from the PFS proxy's DHCP through the DMZ
// relay) and a host in build in it through the core's API, then checks DNS, DHCP and
// TFTP on the PFS proxy from inside PFS. It returns the host's id and build token.
func (s *site) createHost(t *testing.T, marker string) (int64, string) {
	t.Helper()
	proxyID := s.api.id("GET", "/api/v2/smart_proxies/"+pfsName, "")
	status, imported := s.api.call("POST", fmt.Sprintf("/api/v2/smart_proxies/%d/import_subnets", proxyID), "")
	results, _ := imported["results"].([]any)
	if status != 201 || len(results) != 1 {
		t.Fatalf("import_subnets: %d %v", status, imported)
	}
	subnet := results[0].(map[string]any)
	if subnet["network"] != pfsNetwork || subnet["gateway"] != pfsLanIP {
		t.Fatalf("imported subnet %v", subnet)
	}
	subnetID := int64(subnet["id"].(float64))
	domain := s.api.id("POST", "/api/v2/domains", fmt.Sprintf(`{"domain":{"name":%q,"dns_id":%d}}`, domainName, proxyID))
	s.api.id("PUT", fmt.Sprintf("/api/v2/subnets/%d", subnetID), fmt.Sprintf(
		`{"subnet":{"domain_ids":[%d],"dns_id":%[2]d,"tftp_id":%[2]d,"template_id":%[2]d}}`, domain, proxyID))
	arch := s.api.id("POST", "/api/v2/architectures", `{"architecture":{"name":"x86_64"}}`)
	opsys := s.api.id("POST", "/api/v2/operatingsystems", fmt.Sprintf(
		`{"operatingsystem":{"name":"AlmaLinux","major":"9","minor":"4","family":"Redhat","architecture_ids":[%d]}}`, arch))
	medium := s.api.id("POST", "/api/v2/media", fmt.Sprintf(
		`{"medium":{"name":"alma","path":"%s/almalinux/$version/BaseOS/$arch/os","os_family":"Redhat","operatingsystem_ids":[%d]}}`, s.medium, opsys))
	host := s.api.id("POST", "/api/v2/hosts", fmt.Sprintf(`{"host":{"name":"vm01","domain_id":%d,"subnet_id":%d,"mac":%q,"ip":%q,`+
		`"architecture_id":%d,"operatingsystem_id":%d,"medium_id":%d,"pxe_loader":"PXELinux BIOS","build":true,`+
		`"host_parameters_attributes":[{"name":"e2e_marker","value":%q}]}}`,
		domain, subnetID, hostMAC, hostIP, arch, opsys, medium, marker))

	// DNS, DHCP and TFTP as PFS sees them: dig, the proxy's API, tftp.
	if a := s.dig(hostName, "A"); a != hostIP {
		t.Fatalf("dig %s A: %q", hostName, a)
	}
	if ptr := s.dig("-x", hostIP); ptr != hostName+"." {
		t.Fatalf("dig -x %s: %q", hostIP, ptr)
	}
	admin := s.pki.client(s.z.pfs, "", s.certs[adminName])
	res, err := do(admin, "GET", pfsLanURL+"/dhcp/"+pfsNetwork+"/mac/"+hostMAC, "", "", nil)
	if err != nil || res.status != 200 || !strings.Contains(res.body, `"ip":"`+hostIP+`"`) ||
		!strings.Contains(res.body, `"filename":"pxelinux.0"`) || !strings.Contains(res.body, `"nextServer":"`+pfsLanIP+`"`) {
		t.Fatalf("reservation on the PFS proxy: %v %d %s", err, res.status, res.body)
	}
	cfg, ok := s.tftpGet(pxeFile())
	if !ok {
		t.Fatalf("%s not served over TFTP in PFS: %s", pxeFile(), cfg)
	}
	i := strings.Index(cfg, templateURL+"/unattended/provision?token=")
	if i < 0 {
		t.Fatalf("PXELinux config at create does not boot the installer through the PFS proxy:\n%s", cfg)
	}
	token := cfg[i+len(templateURL+"/unattended/provision?token=") : i+len(templateURL+"/unattended/provision?token=")+36]
	return host, token
}

func pxeFile() string { return "pxelinux.cfg/01-" + strings.ReplaceAll(hostMAC, ":", "-") }
