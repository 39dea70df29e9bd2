package dhcp

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smartproxy/smartproxy/httpapi"
)

// parseIPv4 accepts a dotted IPv4 address. The message is the Ruby proxy's: providers
// here are IPv4 only, so an IPv6 address is invalid too.
func parseIPv4(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("Invalid IP Address %s", s)
	}
	return ip, nil
}

// normaliseMAC checks a MAC of 6 octets (Ethernet) or 20 octets (InfiniBand), hex
// pairs of one or two digits separated by ':', and returns it lower-case with every
// octet written as two digits.
func normaliseMAC(s string) (string, error) {
	bad := fmt.Errorf("Invalid MAC %s", s)
	parts := strings.Split(s, ":")
	if len(parts) != 6 && len(parts) != 20 {
		return "", bad
	}
	var b strings.Builder
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return "", bad
		}
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || strings.ContainsAny(p, "+-_") {
			return "", bad
		}
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", v)
	}
	return b.String(), nil
}

// What a DHCPv4 reply can carry (RFC 2131 §2, RFC 2132), which bounds what a
// reservation may hold: a value the server would have to cut, or that does not fit
// a reply at all, is refused when the reservation is made, not at the client.
const (
	// maxHostname is the longest host name in text form (RFC 1123 §2.1 with RFC
	// 1035's 255 octets on the wire); it also fits option 12, which carries 255.
	maxHostname = 253
	maxLabel    = 63
	// maxBootFile: the reply's 128-byte `file` field ends with a NUL. The file
	// goes there, which every PXE ROM reads; option 67 (up to 255 bytes) is only a
	// copy for clients that ask, so `file` is the binding limit.
	maxBootFile = 127
	// maxServerName: a next-server given as a name goes into the 64-byte `sname`
	// field, which also ends with a NUL.
	maxServerName = 63
	// Other form fields are kept as options; each value fits one DHCP option.
	maxOptionValue = 255
	maxOptionName  = 64
	maxOptions     = 64
)

// checkReservation refuses what Foreman never sends and a DHCP reply cannot carry:
// name and hostname that are not RFC 1123 host names, a boot filename longer than
// `file` holds or with anything but printable ASCII, a nextServer that is neither
// an IPv4 address nor a host name fitting `sname`, and option values no option holds.
func checkReservation(name string, options map[string]string) error {
	// hostname first: it is what goes on the wire (option 12), and it is name when
	// the client sent only name.
	if err := checkHostname("hostname", options["hostname"]); err != nil {
		return err
	}
	if name != options["hostname"] {
		if err := checkHostname("name", name); err != nil {
			return err
		}
	}
	if f, ok := options["filename"]; ok {
		if err := checkBootFile(f); err != nil {
			return err
		}
	}
	if s, ok := options["nextServer"]; ok {
		if err := checkNextServer(s); err != nil {
			return err
		}
	}
	if len(options) > maxOptions {
		return fmt.Errorf("Too many options: %d, at most %d", len(options), maxOptions)
	}
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same input always gets the same message
	for _, k := range keys {
		if err := checkOption(k, options[k]); err != nil {
			return err
		}
	}
	return nil
}

// checkHostname applies RFC 1123 §2.1: dot-separated labels of letters, digits and
// inner hyphens, 1-63 bytes each, at most 253 in all (no trailing dot).
func checkHostname(field, s string) error {
	if len(s) > maxHostname {
		return fmt.Errorf("Invalid %s %s: longer than %d bytes", field, httpapi.Echo(s), maxHostname)
	}
	if !isHostname(s) {
		return fmt.Errorf("Invalid %s %s: not a host name (RFC 1123: letters, digits and inner hyphens, labels of 1-63 bytes separated by dots)", field, httpapi.Echo(s))
	}
	return nil
}

func isHostname(s string) bool {
	if s == "" || len(s) > maxHostname {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > maxLabel || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkBootFile: Foreman sends loader paths (pxelinux.0, grub2/grubx64.efi) and,
// for UEFI HTTP boot and iPXE, URLs; all printable ASCII.
func checkBootFile(s string) error {
	if len(s) > maxBootFile {
		return fmt.Errorf("Invalid filename %s: longer than the %d bytes of a DHCP reply's file field", httpapi.Echo(s), maxBootFile)
	}
	if !isPrintableASCII(s) {
		return fmt.Errorf("Invalid filename %s: only printable ASCII is allowed", httpapi.Echo(s))
	}
	return nil
}

// checkNextServer accepts an IPv4 address or a host name whose last label is not
// all digits (so a mistyped address such as 300.1.1.1 is not taken for a name).
// An empty value means none, as the server reads it.
func checkNextServer(s string) error {
	if ip, err := netip.ParseAddr(s); s == "" || err == nil && ip.Is4() {
		return nil
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if !isHostname(s) || strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("Invalid nextServer %s: neither an IPv4 address nor a host name", httpapi.Echo(s))
	}
	if len(s) > maxServerName {
		return fmt.Errorf("Invalid nextServer %s: a host name longer than the %d bytes of a DHCP reply's sname field", httpapi.Echo(s), maxServerName)
	}
	return nil
}

// checkOption bounds the other form fields kept with the reservation (Foreman's
// jumpstart and ZTP extras are short names and values).
func checkOption(name, value string) error {
	if len(name) > maxOptionName || !isPrintableASCII(name) || strings.Contains(name, " ") {
		return fmt.Errorf("Invalid option name %s: at most %d bytes of printable ASCII without spaces", httpapi.Echo(name), maxOptionName)
	}
	if len(value) > maxOptionValue {
		return fmt.Errorf("Invalid option %s: value longer than %d bytes", name, maxOptionValue)
	}
	if !utf8.ValidString(value) || strings.IndexFunc(value, unicode.IsControl) >= 0 {
		return fmt.Errorf("Invalid option %s: value %s holds control characters or bytes that are not UTF-8", name, httpapi.Echo(value))
	}
	return nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
