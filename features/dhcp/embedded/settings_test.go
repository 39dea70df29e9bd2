package embedded

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

// The shipped example must be valid as it stands.
func TestShippedSettingsFile(t *testing.T) {
	data, err := os.ReadFile("../../../settings.d/dhcp_embedded.yml")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := settings.Parse("dhcp_embedded.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	cfg := parse(sec)
	if err := sec.Err(); err != nil {
		t.Fatal(err)
	}
	if unknown := sec.Unread(); len(unknown) > 0 {
		t.Fatalf("shipped file has keys nobody reads: %v", unknown)
	}
	sub := cfg.subnets[0]
	if sub.Range == nil || sub.LeaseTime != 12*time.Hour || sub.Filename != "pxelinux.0" || cfg.listen.Port() != 67 || !cfg.fsync {
		t.Fatalf("shipped config parsed as %+v / %+v", cfg, sub)
	}
}

func TestSettingsErrorsNameFileAndKey(t *testing.T) {
	cases := map[string]string{
		":subnets: []":  ":subnets: must list at least one subnet",
		":listen: nope": ":listen: must be an IPv4 address and port",
		":subnets:\n  - :network: 10.0.0.5\n    :netmask: 255.255.255.0":                                                           ":subnets:[0]:network: 10.0.0.5 is not the network address of 10.0.0.0/255.255.255.0",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.0.255.0":                                                             ":subnets:[0]:netmask: netmask 255.0.255.0 has non-contiguous bits",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :range: [10.0.0.9, 10.0.0.1]":                         ":subnets:[0]:range: first address 10.0.0.9 is after last address 10.0.0.1",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :range: [10.0.0.9, 10.0.1.1]":                         ":subnets:[0]:range: 10.0.0.9-10.0.1.1 does not lie in 10.0.0.0/24",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :routers: [10.0.0.300]":                               ":subnets:[0]:routers: must be an IPv4 address, got \"10.0.0.300\"",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :next_server: 'bad name!'":                            ":subnets:[0]:next_server: must be an IPv4 address or a host name",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n  - :network: 10.0.0.0\n    :netmask: 255.255.0.0":        ":subnets: 10.0.0.0/24 and 10.0.0.0/16 overlap",
		":subnets:\n  - :netmask: 255.255.255.0":                                                                                   ":subnets:[0]:network: is required",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :filename: " + strings.Repeat("f", 128):               ":subnets:[0]:filename: must fit the 127 bytes of a reply's file field, got 128",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :http_boot_url: http://x/" + strings.Repeat("f", 120): ":subnets:[0]:http_boot_url: must fit the 127 bytes of a reply's file field, got 129",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :filename_efi: \"a\\tb\"":                             ":subnets:[0]:filename_efi: must be printable ASCII, got \"a\\tb\"",
		":subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.255.255.0\n    :next_server: " + strings.Repeat("n", 60) + ".com":    ":subnets:[0]:next_server: a host name must fit the 63 bytes of a reply's sname field, got 64",
	}
	for yaml, want := range cases {
		sec, err := settings.Parse("dhcp_embedded.yml", []byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		parse(sec)
		if err := sec.Err(); err == nil || !strings.Contains(err.Error(), "dhcp_embedded.yml: "+want) {
			t.Errorf("settings %q: error %v, want %q", yaml, err, want)
		}
	}
}
