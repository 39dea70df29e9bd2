package tftp

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// startAPI runs the feature (without the UDP server) on a fresh tftproot.
func startAPI(t *testing.T, extra string) (*proxytest.Proxy, *Feature, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tftpboot")
	f := New()
	p := proxytest.Start(t, "", map[string]string{
		"tftp.yml": ":enabled: true\n:tftproot: " + root + "\n:listen: false\n" + extra,
	}, f)
	if s := p.State("tftp"); s != "running" {
		t.Fatalf("tftp state %s", s)
	}
	return p, f, root
}

// files lists every file and link under root, relative and sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func expect(t *testing.T, r proxytest.Response, status int, body string) {
	t.Helper()
	if r.Status != status || r.Body != body {
		t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, status, body)
	}
}

func TestSetWritesTheVariantsFiles(t *testing.T) {
	for _, tc := range []struct {
		variant string
		want    []string
	}{
		{"syslinux", []string{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff"}},
		{"PXELinux", []string{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff"}},
		{"PXEGrub", []string{"grub/01-AA-BB-CC-DD-EE-FF", "grub/menu.lst.01AABBCCDDEEFF"}},
		{"PXEGrub2", []string{"grub2/grub.cfg-01-aa-bb-cc-dd-ee-ff", "grub2/grub.cfg-aa:bb:cc:dd:ee:ff"}},
		{"ztp", []string{"ztp.cfg/AABBCCDDEEFF", "ztp.cfg/AABBCCDDEEFF.cfg"}},
		{"poap", []string{"poap.cfg/AABBCCDDEEFF"}},
		{"iPXE", []string{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff.ipxe"}},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			p, _, root := startAPI(t, "")
			expect(t, p.Do(t, "POST", "/tftp/"+tc.variant+"/AA:bb:CC:dd:EE:ff", form("pxeconfig", "cfg-"+tc.variant)), 200, "")
			got := files(t, root)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("files %v, want %v", got, tc.want)
			}
			for _, f := range got {
				if b, _ := os.ReadFile(filepath.Join(root, f)); string(b) != "cfg-"+tc.variant {
					t.Errorf("%s holds %q", f, b)
				}
			}
			expect(t, p.Do(t, "GET", "/tftp/"+tc.variant+"/AA:bb:CC:dd:EE:ff", nil), 200, "cfg-"+tc.variant)
			expect(t, p.Do(t, "DELETE", "/tftp/"+tc.variant+"/aa:bb:cc:dd:ee:ff", nil), 200, "")
			if got := files(t, root); len(got) != 0 {
				t.Fatalf("after delete: %v", got)
			}
			expect(t, p.Do(t, "DELETE", "/tftp/"+tc.variant+"/aa:bb:cc:dd:ee:ff", nil), 200, "")
		})
	}
}

func TestCreateDefaultWritesTheVariantsMenus(t *testing.T) {
	for variant, want := range map[string][]string{
		"pxelinux": {"pxelinux.cfg/default"},
		"pxegrub":  {"grub/efidefault", "grub/menu.lst"},
		"pxegrub2": {"grub2/grub.cfg"},
		"ztp":      {"ztp.cfg"},
		"poap":     {"poap.cfg"},
		"ipxe":     {"pxelinux.cfg/default.ipxe"},
	} {
		p, _, root := startAPI(t, "")
		expect(t, p.Do(t, "POST", "/tftp/"+variant+"/create_default", form("menu", "menu of "+variant)), 200, "")
		if got := files(t, root); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: files %v, want %v", variant, got, want)
		}
		b, _ := os.ReadFile(filepath.Join(root, want[0]))
		if string(b) != "menu of "+variant {
			t.Errorf("%s: %s holds %q", variant, want[0], b)
		}
	}
}

func TestLegacyRoutesAreSyslinux(t *testing.T) {
	p, _, root := startAPI(t, "")
	expect(t, p.Do(t, "POST", "/tftp/aa:bb:cc:dd:ee:ff", form("syslinux_config", "legacy")), 200, "")
	b, err := os.ReadFile(filepath.Join(root, "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff"))
	if err != nil || string(b) != "legacy" {
		t.Fatalf("legacy create: %q %v", b, err)
	}
	expect(t, p.Do(t, "POST", "/tftp/create_default", form("menu", "default menu")), 200, "")
	if b, _ := os.ReadFile(filepath.Join(root, "pxelinux.cfg/default")); string(b) != "default menu" {
		t.Fatalf("legacy default: %q", b)
	}
	// A form field named variant must not redirect the legacy route.
	expect(t, p.Do(t, "DELETE", "/tftp/aa:bb:cc:dd:ee:ff?variant=ztp", nil), 200, "")
	if got := files(t, root); strings.Join(got, ",") != "pxelinux.cfg/default" {
		t.Fatalf("after legacy delete: %v", got)
	}
}

func TestTwentyOctetMAC(t *testing.T) {
	p, _, root := startAPI(t, "")
	mac := "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"
	expect(t, p.Do(t, "POST", "/tftp/"+mac, form("pxeconfig", "ib")), 200, "")
	want := "pxelinux.cfg/01-" + strings.ReplaceAll(mac, ":", "-")
	if got := files(t, root); len(got) != 1 || got[0] != want {
		t.Fatalf("files %v, want %s", got, want)
	}
}

func TestRefusals(t *testing.T) {
	p, _, root := startAPI(t, "")
	for _, tc := range []struct {
		method, path string
		form         url.Values
		status       int
		body         string
	}{
		{"POST", "/tftp/aa:bb:cc:00:11:zz", form("pxeconfig", "x"), 403, "Invalid MAC address: aa:bb:cc:00:11:zz"},
		{"POST", "/tftp/pxelinux/aa:bb:cc:00:11:22:33", form("pxeconfig", "x"), 403, "Invalid MAC address: aa:bb:cc:00:11:22:33"},
		{"GET", "/tftp/pxelinux/aa:bb:cc:00:11", nil, 403, "Invalid MAC address: aa:bb:cc:00:11"},
		{"DELETE", "/tftp/pxegrub2/zz", nil, 403, "Invalid MAC address: zz"},
		{"POST", "/tftp/Server/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x"), 403, "Unrecognized pxeboot config type: Server"},
		{"GET", "/tftp/bogus/aa:bb:cc:dd:ee:ff", nil, 403, "Unrecognized pxeboot config type: bogus"},
		{"POST", "/tftp/bogus/create_default", form("menu", "x"), 403, "Unrecognized pxeboot config type: bogus"},
		// the MAC is checked before the variant, as in the Ruby proxy
		{"POST", "/tftp/bogus/zz", form("pxeconfig", "x"), 403, "Invalid MAC address: zz"},
		{"POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", form("other", "x"), 400, "TFTP: Failed to create pxe config file: Invalid parameters received"},
		{"POST", "/tftp/aa:bb:cc:dd:ee:ff", nil, 400, "TFTP: Failed to create pxe config file: Invalid parameters received"},
		{"POST", "/tftp/pxegrub2/create_default", nil, 400, "TFTP: Failed to create PXE default file: Default config not supplied"},
		{"POST", "/tftp/create_default", form("other", "x"), 400, "TFTP: Failed to create PXE default file: Default config not supplied"},
		{"GET", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", nil, 404, "TFTP: Failed to retrieve pxe config file: File " + root + "/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff not found"},
		{"PUT", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x"), 404, "Requested url was not found"},
		{"GET", "/tftp/fetch_boot_file", nil, 404, "Requested url was not found"},
	} {
		r := p.Do(t, tc.method, tc.path, tc.form)
		if r.Status != tc.status || r.Body != tc.body {
			t.Errorf("%s %s: got %d %q, want %d %q", tc.method, tc.path, r.Status, r.Body, tc.status, tc.body)
		}
	}
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("refused requests wrote %v", got)
	}
}

func TestEmptyConfigIsWritten(t *testing.T) {
	p, _, root := startAPI(t, "")
	expect(t, p.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", form("pxeconfig", "")), 200, "")
	if fi, err := os.Stat(filepath.Join(root, "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff")); err != nil || fi.Size() != 0 {
		t.Fatalf("empty config: %v %v", fi, err)
	}
}

func TestWriteFailureIs400(t *testing.T) {
	p, _, root := startAPI(t, "")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// pxelinux.cfg is a file, so the config cannot be created below it
	if err := os.WriteFile(filepath.Join(root, "pxelinux.cfg"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := p.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x"))
	if r.Status != 400 || !strings.HasPrefix(r.Body, "TFTP: Failed to create pxe config file: ") || !strings.Contains(r.Body, root) {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	r = p.Do(t, "POST", "/tftp/pxelinux/create_default", form("menu", "x"))
	if r.Status != 400 || !strings.HasPrefix(r.Body, "TFTP: Failed to create PXE default file: ") {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
}

func TestWritesDoNotFollowLinksOutOfTheRoot(t *testing.T) {
	p, _, root := startAPI(t, "")
	outside := t.TempDir()
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "pxelinux.cfg")); err != nil {
		t.Fatal(err)
	}
	r := p.Do(t, "POST", "/tftp/pxelinux/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x"))
	if r.Status != 400 {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
}

func TestServerNameAndExposedSetting(t *testing.T) {
	p, _, _ := startAPI(t, ":tftp_servername: tftp.example.com\n")
	expect(t, p.Do(t, "GET", "/tftp/serverName", nil), 200, `{"serverName":"tftp.example.com"}`)
	r := p.Do(t, "GET", "/v2/features", nil)
	if !strings.Contains(r.Body, `"tftp_servername":"tftp.example.com"`) {
		t.Fatalf("v2 features: %s", r.Body)
	}

	p, _, _ = startAPI(t, "")
	expect(t, p.Do(t, "GET", "/tftp/serverName", nil), 200, `{"serverName":""}`)
	if r := p.Do(t, "GET", "/v2/features", nil); !strings.Contains(r.Body, `"tftp_servername":null`) {
		t.Fatalf("v2 features: %s", r.Body)
	}
}

func TestGrub2HostConfig(t *testing.T) {
	p, _, root := startAPI(t, "")
	mac := "AA:BB:CC:DD:EE:FF"
	host := "host-config/aa-bb-cc-dd-ee-ff/grub2/"
	r := p.Do(t, "POST", "/tftp/PXEGrub2/"+mac, form("pxeconfig", "grub", "targetos", "redhat", "release", "9.4", "arch", "x86_64", "bootfile_suffix", "x64"))
	expect(t, r, 200, "")
	for _, f := range []string{"grub.cfg", "grub.cfg-01-aa-bb-cc-dd-ee-ff", "grub.cfg-aa:bb:cc:dd:ee:ff"} {
		if b, err := os.ReadFile(filepath.Join(root, host+f)); err != nil || string(b) != "grub" {
			t.Errorf("%s: %q %v", f, b, err)
		}
	}
	for link, target := range map[string]string{
		"boot.efi": "../../../grub2/grubx64.efi", "grubx64.efi": "../../../grub2/grubx64.efi",
		"boot-sb.efi": "../../../grub2/shimx64.efi", "shimx64.efi": "../../../grub2/shimx64.efi",
	} {
		if got, err := os.Readlink(filepath.Join(root, host+link)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, target)
		}
	}

	// With a bootloader universe for the OS, its EFI binaries are linked instead.
	universe := filepath.Join(root, "bootloader-universe/pxegrub2/redhat/default/x86_64")
	if err := os.MkdirAll(universe, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"grubx64.efi", "shimx64.efi", "mmx64.efi", "README"} {
		if err := os.WriteFile(filepath.Join(universe, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, p.Do(t, "POST", "/tftp/pxegrub2/"+mac, form("pxeconfig", "grub", "targetos", "redhat", "release", "9.4", "arch", "x86_64")), 200, "")
	entries, _ := os.ReadDir(filepath.Join(root, host))
	var efi []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".efi") {
			efi = append(efi, e.Name())
		}
	}
	if strings.Join(efi, ",") != "grubx64.efi,mmx64.efi,shimx64.efi" {
		t.Fatalf("universe links %v", efi)
	}
	if b, err := os.ReadFile(filepath.Join(root, host+"mmx64.efi")); err != nil || string(b) != "mmx64.efi" {
		t.Fatalf("mmx64.efi link reads %q %v", b, err)
	}

	r = p.Do(t, "POST", "/tftp/pxegrub2/"+mac, form("pxeconfig", "grub", "targetos", "../etc", "release", "9", "arch", "x86_64"))
	expect(t, r, 400, "TFTP: Failed to create pxe config file: Invalid bootloader universe operating system path")

	expect(t, p.Do(t, "DELETE", "/tftp/pxegrub2/"+mac, nil), 200, "")
	if _, err := os.Lstat(filepath.Join(root, "host-config/aa-bb-cc-dd-ee-ff")); !os.IsNotExist(err) {
		t.Fatalf("host-config directory left after delete: %v", err)
	}
}

func TestDisabledFeatureIsNotMounted(t *testing.T) {
	p := proxytest.Start(t, "", map[string]string{"tftp.yml": ":enabled: false\n"}, New())
	if r := p.Do(t, http.MethodGet, "/tftp/serverName", nil); r.Status != 404 {
		t.Fatalf("disabled tftp answered %d %q", r.Status, r.Body)
	}
	if r := p.Do(t, "GET", "/v2/features", nil); !strings.Contains(r.Body, `"tftp_servername":null`) || !strings.Contains(r.Body, `"state":"disabled"`) {
		t.Fatalf("v2 features: %s", r.Body)
	}
}

// On a host where another TFTP server holds the port (tftpd-hpa next to the Ruby
// proxy), the feature keeps running with its API and leaves serving to that server.
func TestPortHeldByAnotherServer(t *testing.T) {
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	root := filepath.Join(t.TempDir(), "tftpboot")
	p := proxytest.Start(t, "", map[string]string{
		"tftp.yml": ":enabled: true\n:tftproot: " + root + "\n:listen: " + other.LocalAddr().String() + "\n",
	}, New())
	if s := p.State("tftp"); s != "running" {
		t.Fatalf("tftp state %s, want running with the port taken", s)
	}
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/52:54:00:00:00:01", form("pxeconfig", "DEFAULT local")), 200, "")
	if b, err := os.ReadFile(filepath.Join(root, "pxelinux.cfg", "01-52-54-00-00-00-01")); err != nil || string(b) != "DEFAULT local" {
		t.Fatalf("config not written: %q %v", b, err)
	}
}
