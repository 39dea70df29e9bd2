package zones

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/pxeboot"
)

const (
	ipxeLkrn = "/usr/lib/ipxe/ipxe.lkrn"
	// ROM DHCP, pxelinux, iPXE as the kernel, its own DHCP and two HTTP fetches through
	// PFS → DMZ → CORE, under TCG on a loaded 2-CPU machine.
	vmBootLimit = 240 * time.Second
)

// requireVM fails (the zones test is issue 13's CI test: a missing peer is a broken
// CI image, not a reason to skip) unless QEMU and the boot files are installed. It
// returns qemu's path and iPXE, the medium's kernel.
func requireVM(t *testing.T) (string, []byte) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal("qemu-system-x86_64 not installed (apt-get install qemu-system-x86 ipxe-qemu)")
	}
	for _, f := range []string{pxelinuxBin, ldlinuxC32, ipxeLkrn} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s missing (apt-get install pxelinux syslinux-common ipxe)", f)
		}
	}
	lkrn, err := os.ReadFile(ipxeLkrn)
	if err != nil {
		t.Fatal(err)
	}
	return qemu, lkrn
}

// bootAndBuild boots a QEMU guest with the host's MAC on the tap in PFS: it gets its
// reserved address from the PFS proxy's DHCP, pxelinux and the per-MAC config over its
// TFTP, then (iPXE as the installer) fetches its provisioning script from the PFS
// proxy's templates, relayed PFS → DMZ → CORE with the token, and calls built the same
// way. The core then shows the host built and the PXE config in PFS boots locally.
func (s *site) bootAndBuild(t *testing.T, qemu string, host int64, token, marker string) {
	t.Helper()
	pxeboot.StartRouterAdvertiser(t, s.z.pfs, s.z.tap)
	// fetch_boot_file downloads in the background: the guest needs the whole kernel.
	waitFor(t, "the medium's kernel in the PFS proxy's TFTP root", 30*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(s.tftp, "boot", "*-vmlinuz"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && string(b) == string(s.kernel) {
				return true
			}
		}
		return false
	})
	guest := pxeboot.StartGuest(t, s.z.pfs, vmBootLimit, qemu, pxeboot.BIOSArgs(s.z.tap, hostMAC)...)
	t.Cleanup(func() {
		// The serial console is saved with the logs (kept when the test fails).
		writeFile(t, filepath.Join(s.logs, "vm-console.log"), guest.Console())
	})
	console := guest.WaitFor(t, marker, vmBootLimit)
	guest.Stop() // it holds the tap
	if !strings.Contains(console, marker+" reported built") {
		t.Fatalf("the guest did not report built:\n%s", console)
	}
	if !strings.Contains(console, "net0: "+hostIP+"/") || !strings.Contains(console, "stand-in installer of "+hostName+" at "+hostIP) {
		t.Fatalf("the guest did not get its reserved address %s:\n%s", hostIP, console)
	}
	if !strings.Contains(console, "tftp://"+pfsLanIP+"/pxelinux.0") {
		t.Fatalf("the guest did not load pxelinux.0 from the PFS proxy:\n%s", console)
	}
	// Each hop saw the installer's requests: TFTP and templates in PFS, the DMZ relay,
	// the core (which answered built from the host's own address).
	for _, line := range []string{`TFTP: sent "pxelinux.0"`, `TFTP: sent "` + pxeFile() + `"`,
		"GET /unattended/provision?token=" + token + " ", "GET /unattended/built?token=" + token + " "} {
		s.pfs.waitLog(line, 30*time.Second)
	}
	// The PFS proxy's templates add url= (its template_url); the core logs the client
	// as the guest itself, through the X-Forwarded-For chain.
	for _, kind := range []string{"provision", "built"} {
		s.dmz.waitLog(`"GET /unattended/`+kind+"?token="+token+"&url=", 30*time.Second)
		at := regexp.MustCompile(`GET /unattended/` + kind + `\?token=` + token + `&url=\S+ 20[01] \S+ (\S+)`)
		waitFor(t, "the core's log of /unattended/"+kind, 30*time.Second, func() bool { return at.MatchString(s.core.log()) })
		if m := at.FindStringSubmatch(s.core.log()); m[1] != hostIP {
			t.Fatalf("the core logged /unattended/%s from %s, not from the guest %s", kind, m[1], hostIP)
		}
	}

	// Built: out of build, and the PXE config served in PFS is the local-boot one.
	if status, v := s.api.call("GET", fmt.Sprintf("/api/v2/hosts/%d", host), ""); status != 200 || v["build"] != false {
		t.Fatalf("host after built: %d build=%v", status, v["build"])
	}
	if cfg, ok := s.tftpGet(pxeFile()); !ok || !strings.Contains(cfg, "LOCALBOOT 0") || strings.Contains(cfg, "token") {
		t.Fatalf("PXELinux config served in PFS after built (served %v):\n%s", ok, cfg)
	}
}
