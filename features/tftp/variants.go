package tftp

import (
	"regexp"
	"strings"
)

// variant is one PXE loader family: where its per-host configs and its default menu
// live under tftproot (spec §5.3). Paths are slash-separated and relative to the root.
type variant struct {
	name string
	// hostFiles are written on set, all removed on delete, the first one read on get.
	hostFiles func(mac string) []string
	defaults  []string
}

func dashed(mac string) string  { return strings.ReplaceAll(mac, ":", "-") }
func bareMAC(mac string) string { return strings.ReplaceAll(mac, ":", "") }

var pxelinux = variant{
	name:      "pxelinux",
	hostFiles: func(mac string) []string { return []string{"pxelinux.cfg/01-" + strings.ToLower(dashed(mac))} },
	defaults:  []string{"pxelinux.cfg/default"},
}

// variants is keyed by the lower-cased path segment; Foreman sends PXELinux, PXEGrub,
// PXEGrub2 and iPXE, which the Ruby proxy capitalises before looking up.
var variants = map[string]variant{
	"syslinux": pxelinux,
	"pxelinux": pxelinux,
	"pxegrub": {
		name: "pxegrub",
		hostFiles: func(mac string) []string {
			return []string{"grub/menu.lst.01" + strings.ToUpper(bareMAC(mac)), "grub/01-" + strings.ToUpper(dashed(mac))}
		},
		defaults: []string{"grub/menu.lst", "grub/efidefault"},
	},
	"pxegrub2": {
		name: "pxegrub2",
		hostFiles: func(mac string) []string {
			return []string{"grub2/grub.cfg-01-" + strings.ToLower(dashed(mac)), "grub2/grub.cfg-" + strings.ToLower(mac)}
		},
		defaults: []string{"grub2/grub.cfg"},
	},
	"ztp": {
		name: "ztp",
		hostFiles: func(mac string) []string {
			m := strings.ToUpper(bareMAC(mac))
			return []string{"ztp.cfg/" + m, "ztp.cfg/" + m + ".cfg"}
		},
		defaults: []string{"ztp.cfg"},
	},
	"poap": {
		name:      "poap",
		hostFiles: func(mac string) []string { return []string{"poap.cfg/" + strings.ToUpper(bareMAC(mac))} },
		defaults:  []string{"poap.cfg"},
	},
	"ipxe": {
		name: "ipxe",
		hostFiles: func(mac string) []string {
			return []string{"pxelinux.cfg/01-" + strings.ToLower(dashed(mac)) + ".ipxe"}
		},
		defaults: []string{"pxelinux.cfg/default.ipxe"},
	},
}

func lookupVariant(name string) (variant, bool) {
	v, ok := variants[strings.ToLower(name)]
	return v, ok
}

// macPattern is the Ruby proxy's rule: 6 (Ethernet) or 20 (InfiniBand) octets of one or
// two hex digits separated by colons.
var macPattern = regexp.MustCompile(`^(?i:[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}|[0-9a-f]{1,2}(:[0-9a-f]{1,2}){19})$`)

func validMAC(mac string) bool { return macPattern.MatchString(mac) }
