package orchestrate

import (
	"context"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
)

// The DHCP filename of each PXE loader, as Foreman sets it.
func TestBootFilename(t *testing.T) {
	httpBoot := &store.SmartProxy{URL: "https://proxy.example.test:8443", Features: []store.Feature{
		{Name: "HTTPBoot", Settings: map[string]any{"http_port": float64(8000), "https_port": float64(8443)}}}}
	o := New(Options{UnattendedURL: "http://core.example.test/"})
	cases := []struct {
		loader, arch string
		httpBoot     *store.SmartProxy
		want         string
	}{
		{"PXELinux BIOS", "x86_64", nil, "pxelinux.0"},
		{"PXELinux UEFI", "x86_64", nil, "pxelinux.efi"},
		{"Grub2 UEFI", "x86_64", nil, "grub2/grubx64.efi"},
		{"Grub2 UEFI", "aarch64", nil, "grub2/grubaa64.efi"},
		{"Grub2 UEFI SecureBoot", "x86_64", nil, "grub2/shimx64.efi"},
		{"Grub2 BIOS", "i386", nil, "grub2/grubia32.0"},
		{"Grub UEFI", "x86_64", nil, "grub/grubx64.efi"},
		{"iPXE Chain BIOS", "x86_64", nil, "undionly-ipxe.0"},
		{"iPXE Chain UEFI", "x86_64", nil, "ipxe-x64.efi"},
		{"iPXE Embedded", "x86_64", nil, "http://core.example.test/unattended/iPXE"},
		{"Grub2 UEFI HTTP", "x86_64", httpBoot, "http://proxy.example.test:8000/httpboot/grub2/grubx64.efi"},
		{"Grub2 UEFI HTTPS", "x86_64", httpBoot, "https://proxy.example.test:8443/httpboot/grub2/grubx64.efi"},
		{"iPXE UEFI HTTP", "x86_64", httpBoot, "http://proxy.example.test:8000/httpboot/ipxe-x64.efi"},
		{"Grub2 UEFI HTTP", "x86_64", nil, ""}, // no HTTPBoot proxy on the subnet
		{"None", "x86_64", nil, ""},
		{"", "x86_64", nil, ""},
	}
	for _, c := range cases {
		tg := &target{host: store.Host{PXELoader: c.loader}, arch: c.arch, httpBoot: c.httpBoot}
		if got := o.bootFilename(context.Background(), tg); got != c.want {
			t.Errorf("%s on %s: %q, want %q", c.loader, c.arch, got, c.want)
		}
	}
}
