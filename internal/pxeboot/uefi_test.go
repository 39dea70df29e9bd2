package pxeboot_test

import (
	"fmt"
	"net/url"
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
	uefiMAC   = "52:54:00:99:00:03"
	uefiIP    = "10.98.0.51"
	ovmf      = "/usr/share/ovmf/OVMF.fd"
	snponly   = "/usr/lib/ipxe/snponly.efi"
	uefiLimit = 240 * time.Second // TCG boot takes about 13 s; a loaded CI machine is many times slower
)

// TestUEFIHTTPChainFromProxy boots OVMF's own PXE client (the NIC has no option ROM)
// and follows the chain the proxy has to serve: UEFI DHCP -> :filename_efi: over TFTP
// (snponly.efi, i.e. iPXE) -> iPXE DHCP -> :ipxe_filename: over HTTP from httpboot.
func TestUEFIHTTPChainFromProxy(t *testing.T) {
	qemu := requireOVMF(t, snponly)
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	copyFile(t, snponly, filepath.Join(tftproot, "snponly.efi"))
	marker := fmt.Sprintf("SPUEFI-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	// ${platform} is expanded by iPXE: "efi" proves the script ran under UEFI.
	writeFile(t, filepath.Join(tftproot, "boot.ipxe"), "#!ipxe\necho "+marker+" platform=${platform}\n")

	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		// iPXE fetches the script from the tap address, not the namespace's loopback.
		bindHosts: []string{"127.0.0.1", serverIP},
		subnet: "    :filename: pxelinux.0\n    :filename_efi: snponly.efi\n" +
			"    :ipxe_filename: http://" + serverIP + ":8000/httpboot/boot.ipxe\n",
		settings: map[string]string{
			"httpboot.yml": fmt.Sprintf(":enabled: true\n:root_dir: %s\n", tftproot),
		},
		features: []string{"httpboot"},
	})
	// No filename in the reservation: the subnet's boot files must be chosen by client.
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {uefiMAC}, "ip": {uefiIP}, "hostname": {"uefi-guest.example.test"},
		"nextServer": {serverIP},
	})

	console := bootOVMF(t, qemu, ns, tap, marker)

	if !strings.Contains(console, marker+" platform=efi") {
		t.Fatalf("boot.ipxe did not run on the EFI platform:\n%s", console)
	}
	if !strings.Contains(console, "net0: "+uefiIP+"/") {
		t.Fatalf("iPXE did not get the reserved address %s:\n%s", uefiIP, console)
	}
	waitLog(t, proxyLog, `TFTP: sent "snponly.efi"`)
	waitLog(t, proxyLog, `"GET /httpboot/boot.ipxe HTTP/1.1" 200`)
}

// waitLog fails the test unless line shows up in the proxy log soon: the access log
// is written after the response, so it may trail the guest's console by a moment.
func waitLog(t *testing.T, log *pxeboot.SyncBuffer, line string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(log.String(), line); {
		if time.Now().After(deadline) {
			t.Fatalf("proxy log has no %s:\n%s", line, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUEFIHTTPBootFromProxy boots OVMF's own UEFI HTTP Boot client, with its PXE
// clients switched off through fw_cfg, so nothing goes over TFTP: UEFI DHCP with
// vendor class HTTPClient -> :http_boot_url: (snponly.efi, i.e. iPXE) fetched from
// httpboot -> iPXE DHCP -> :ipxe_filename: over HTTP from httpboot.
func TestUEFIHTTPBootFromProxy(t *testing.T) {
	qemu := requireOVMF(t, snponly)
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	copyFile(t, snponly, filepath.Join(tftproot, "efi", "snponly.efi"))
	marker := fmt.Sprintf("SPHTTPBOOT-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())
	writeFile(t, filepath.Join(tftproot, "boot.ipxe"), "#!ipxe\necho "+marker+" platform=${platform}\n")

	base := "http://" + serverIP + ":8000/httpboot/"
	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		bindHosts: []string{"127.0.0.1", serverIP},
		subnet: "    :filename: pxelinux.0\n    :filename_efi: efi/snponly.efi\n" +
			"    :http_boot_url: " + base + "efi/snponly.efi\n" +
			"    :ipxe_filename: " + base + "boot.ipxe\n",
		settings: map[string]string{
			"httpboot.yml": fmt.Sprintf(":enabled: true\n:root_dir: %s\n", tftproot),
		},
		features: []string{"httpboot"},
	})
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {uefiMAC}, "ip": {uefiIP}, "hostname": {"httpboot-guest.example.test"},
		"nextServer": {serverIP},
	})

	console := bootOVMF(t, qemu, ns, tap, marker,
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")

	if !strings.Contains(console, marker+" platform=efi") {
		t.Fatalf("boot.ipxe did not run on the EFI platform:\n%s", console)
	}
	if !strings.Contains(console, "Start HTTP Boot over IPv4") || !strings.Contains(console, `"UEFI HTTPv4 (MAC:`+strings.ReplaceAll(uefiMAC, ":", "")+`)"`) {
		t.Fatalf("the firmware did not boot through UEFI HTTP Boot:\n%s", console)
	}
	if !strings.Contains(console, "net0: "+uefiIP+"/") {
		t.Fatalf("iPXE did not get the reserved address %s:\n%s", uefiIP, console)
	}
	// The firmware's HTTP boot client asks for the size first; iPXE does not.
	waitLog(t, proxyLog, `"HEAD /httpboot/efi/snponly.efi HTTP/1.1" 200`)
	waitLog(t, proxyLog, `"GET /httpboot/efi/snponly.efi HTTP/1.1" 200`)
	waitLog(t, proxyLog, `"GET /httpboot/boot.ipxe HTTP/1.1" 200`)
	// Every TFTP request, served or not, leaves a line naming its client.
	if regexp.MustCompile(`TFTP: .*` + regexp.QuoteMeta(uefiIP)).MatchString(proxyLog.String()) {
		t.Fatalf("the firmware used TFTP:\n%s", proxyLog.String())
	}
}

// TestUEFIGrub2FromProxy boots GRUB the way Foreman's PXEGrub2 templates do on UEFI:
// OVMF's PXE client loads grub2/grubx64.efi over TFTP (built here with grub-mkimage,
// prefix /grub2), and GRUB looks for its configuration by MAC address, finding the
// grub2/grub.cfg-01-<mac> file that POST /tftp/PXEGrub2/<mac> wrote.
func TestUEFIGrub2FromProxy(t *testing.T) {
	qemu := requireOVMF(t)
	mkimage, err := exec.LookPath("grub-mkimage")
	if err != nil {
		t.Skip("grub-mkimage missing (apt-get install grub-efi-amd64-bin)")
	}
	if _, err := os.Stat("/usr/lib/grub/x86_64-efi/efinet.mod"); err != nil {
		t.Skip("GRUB's x86_64-efi modules missing (apt-get install grub-efi-amd64-bin)")
	}
	ns, tap := pxeboot.NewNetns(t, "sppxe", serverIP)
	pxeboot.StartRouterAdvertiser(t, ns, tap)

	dir := t.TempDir()
	tftproot := filepath.Join(dir, "tftpboot")
	if err := os.MkdirAll(filepath.Join(tftproot, "grub2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkimage, "-O", "x86_64-efi", "-p", "/grub2", "-o", filepath.Join(tftproot, "grub2", "grubx64.efi"),
		"efinet", "tftp", "normal", "echo", "configfile").CombinedOutput(); err != nil {
		t.Fatalf("grub-mkimage: %v\n%s", err, out)
	}
	marker := fmt.Sprintf("SPGRUB-MARKER-%d-%d", os.Getpid(), time.Now().UnixNano())

	api, proxyLog := startProxy(t, ns, tap, dir, tftproot, proxyConfig{
		subnet: "    :filename: pxelinux.0\n    :filename_efi: grub2/grubx64.efi\n",
	})
	api.post(t, "/dhcp/10.98.0.0", url.Values{
		"mac": {uefiMAC}, "ip": {uefiIP}, "hostname": {"grub-guest.example.test"},
		"nextServer": {serverIP},
	})
	// What Foreman's PXEGrub2 template renders, reduced to a line that shows it ran.
	api.post(t, "/tftp/PXEGrub2/"+uefiMAC, url.Values{"pxeconfig": {"echo " + marker + " net_default_mac=$net_default_mac\n"}})

	console := bootOVMF(t, qemu, ns, tap, marker)

	if !strings.Contains(console, marker+" net_default_mac="+uefiMAC) {
		t.Fatalf("GRUB did not run the per-MAC config:\n%s", console)
	}
	waitLog(t, proxyLog, `TFTP: sent "grub2/grubx64.efi"`)
	// OVMF asks for an RFC 7440 window (4 blocks): the 450 KB image must not go lockstep.
	if regexp.MustCompile(`TFTP: sent "grub2/grubx64.efi".*windowsize 1,`).MatchString(proxyLog.String()) {
		t.Fatalf("the firmware's transfer ran in lockstep:\n%s", proxyLog.String())
	}
	waitLog(t, proxyLog, `TFTP: sent "/grub2/grub.cfg-01-`+strings.ReplaceAll(uefiMAC, ":", "-")+`"`)
}

// requireOVMF skips unless QEMU, OVMF and the given files are there.
func requireOVMF(t *testing.T, files ...string) string {
	t.Helper()
	qemu := pxeboot.RequireQEMU(t)
	for _, f := range append([]string{ovmf}, files...) {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s missing (apt-get install ovmf ipxe)", f)
		}
	}
	return qemu
}

// bootOVMF boots OVMF (under TCG) from the network on tap, the NIC without an option
// ROM so the firmware's own network stack runs, until marker shows on the console.
func bootOVMF(t *testing.T, qemu, ns, tap, marker string, extra ...string) string {
	t.Helper()
	args := append([]string{"-accel", "tcg", "-m", "256", "-bios", ovmf, "-nographic", "-no-reboot", "-boot", "n"}, extra...)
	args = append(args, "-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+uefiMAC+",romfile=")
	return pxeboot.Boot(t, ns, marker, uefiLimit, qemu, args...)
}
