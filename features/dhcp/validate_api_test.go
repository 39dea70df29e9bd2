package dhcp_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// label63 is the longest RFC 1123 label; longest is the longest host name.
var (
	label63 = strings.Repeat("a", 63)
	longest = strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 253 bytes
)

const hostnameRule = "not a host name (RFC 1123: letters, digits and inner hyphens, labels of 1-63 bytes separated by dots)"

// TestReservationRefusals: what Foreman never sends and a DHCP reply cannot carry
// is refused with 400 and a message naming field, value and rule, and nothing is
// stored (issue 15 item 4).
func TestReservationRefusals(t *testing.T) {
	p := startEmbedded(t)
	tooLong := longest + "b"
	manyOptions := []string{} // with hostname, filename and nextServer: 65 options
	for i := 0; i < 62; i++ {
		manyOptions = append(manyOptions, fmt.Sprintf("opt%02d", i), "x")
	}
	cases := []struct {
		name  string
		extra []string // form fields over a valid reservation's
		want  string
	}{
		{"70,000-byte hostname", []string{"hostname", strings.Repeat("a", 70000)},
			"Invalid hostname " + strings.Repeat("a", 64) + "... (70000 bytes): longer than 253 bytes"},
		{"254-byte hostname", []string{"hostname", tooLong}, "Invalid hostname " + tooLong + ": longer than 253 bytes"},
		{"64-byte label", []string{"hostname", label63 + "a.example.com"}, "Invalid hostname " + label63 + "a.example.com: " + hostnameRule},
		{"newline", []string{"hostname", "web01\n.example.com"}, `Invalid hostname web01\n.example.com: ` + hostnameRule},
		{"NUL", []string{"hostname", "web01\x00.example.com"}, `Invalid hostname web01\x00.example.com: ` + hostnameRule},
		{"bytes ff fe", []string{"hostname", "\xff\xfe"}, `Invalid hostname \xff\xfe: ` + hostnameRule},
		{"not a hostname!", []string{"hostname", "not a hostname!"}, "Invalid hostname not a hostname!: " + hostnameRule},
		{"leading hyphen", []string{"hostname", "-web01.example.com"}, "Invalid hostname -web01.example.com: " + hostnameRule},
		{"trailing hyphen", []string{"hostname", "web01-.example.com"}, "Invalid hostname web01-.example.com: " + hostnameRule},
		{"underscore", []string{"hostname", "web_01.example.com"}, "Invalid hostname web_01.example.com: " + hostnameRule},
		{"empty label", []string{"hostname", "web01..example.com"}, "Invalid hostname web01..example.com: " + hostnameRule},
		{"trailing dot", []string{"hostname", "web01.example.com."}, "Invalid hostname web01.example.com.: " + hostnameRule},
		{"only name, bad", []string{"hostname", "", "name", "a b"}, "Invalid hostname a b: " + hostnameRule},
		{"name bad, hostname good", []string{"name", "web01\r\nX: y"}, `Invalid name web01\r\nX: y: ` + hostnameRule},
		{"70,000-byte filename", []string{"filename", strings.Repeat("f", 70000)},
			"Invalid filename " + strings.Repeat("f", 64) + "... (70000 bytes): longer than the 127 bytes of a DHCP reply's file field"},
		{"128-byte filename", []string{"filename", strings.Repeat("f", 128)},
			"Invalid filename " + strings.Repeat("f", 128) + ": longer than the 127 bytes of a DHCP reply's file field"},
		{"filename with newline", []string{"filename", "pxelinux.0\nx"}, `Invalid filename pxelinux.0\nx: only printable ASCII is allowed`},
		{"filename with NUL", []string{"filename", "pxelinux.0\x00"}, `Invalid filename pxelinux.0\x00: only printable ASCII is allowed`},
		{"filename with tab", []string{"filename", "a\tb"}, `Invalid filename a\tb: only printable ASCII is allowed`},
		{"filename not ASCII", []string{"filename", "gr\u00fcb.efi"}, "Invalid filename gr\u00fcb.efi: only printable ASCII is allowed"},
		{"nextServer bad host!", []string{"nextServer", "bad host!"}, "Invalid nextServer bad host!: neither an IPv4 address nor a host name"},
		{"nextServer 300.1.1.1", []string{"nextServer", "300.1.1.1"}, "Invalid nextServer 300.1.1.1: neither an IPv4 address nor a host name"},
		{"nextServer IPv6", []string{"nextServer", "2001:db8::1"}, "Invalid nextServer 2001:db8::1: neither an IPv4 address nor a host name"},
		{"nextServer newline", []string{"nextServer", "tftp\n.example.com"}, `Invalid nextServer tftp\n.example.com: neither an IPv4 address nor a host name`},
		{"nextServer name over sname", []string{"nextServer", label63 + ".example.com"},
			"Invalid nextServer " + label63 + ".example.com: a host name longer than the 63 bytes of a DHCP reply's sname field"},
		{"option value over 255", []string{"root_path_name", strings.Repeat("r", 256)}, "Invalid option root_path_name: value longer than 255 bytes"},
		{"option value with newline", []string{"install_path", "/a\n/b"}, `Invalid option install_path: value /a\n/b holds control characters or bytes that are not UTF-8`},
		{"option name with space", []string{"a b", "x"}, "Invalid option name a b: at most 64 bytes of printable ASCII without spaces"},
		{"65 options", manyOptions, "Too many options: 65, at most 64"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mac := fmt.Sprintf("52:54:00:00:01:%02x", i)
			form := reservationForm("hostname", "web01.example.com", "name", "web01.example.com", "mac", mac,
				"ip", fmt.Sprintf("192.168.122.%d", 10+i), "nextServer", "192.168.122.1", "filename", "pxelinux.0")
			for j := 0; j+1 < len(c.extra); j += 2 {
				form.Set(c.extra[j], c.extra[j+1])
			}
			if form.Get("hostname") == "" {
				form.Del("hostname")
			}
			check(t, p, "POST", "/dhcp/192.168.122.0", form, want{400, c.want})
			check(t, p, "GET", "/dhcp/192.168.122.0/mac/"+mac, nil, want{404, "No DHCP record for MAC 192.168.122.0/" + mac + " found"})
		})
	}
}

// TestReservationForemanValues: what Foreman sends passes, up to each limit, and
// is stored as sent.
func TestReservationForemanValues(t *testing.T) {
	p := startEmbedded(t)
	cases := []struct {
		name   string
		fields []string
	}{
		{"BIOS PXE", []string{"hostname", "web01.example.com", "name", "web01.example.com", "filename", "pxelinux.0", "nextServer", "192.168.122.1"}},
		{"UEFI grub2, next-server by name", []string{"hostname", "web02", "name", "web02.example.com", "filename", "grub2/grubx64.efi", "nextServer", "tftp.example.com"}},
		{"UEFI HTTP boot URL", []string{"hostname", "web03.example.com", "filename", "http://proxy.example.com:8000/httpboot/grub2/grubx64.efi"}},
		{"iPXE embedded URL", []string{"hostname", "web04.example.com", "filename", "http://foreman.example.com/unattended/iPXE?token=5d1d8b8c-2a0c-4a4c-9b0e-0e6a2f7e8a11"}},
		{"bonded NIC record name", []string{"hostname", "web05.example.com", "name", "web05.example.com-01", "related_macs[]", "52:54:00:00:02:99"}},
		{"longest values", []string{"hostname", longest, "filename", "/" + strings.Repeat("f", 126), "nextServer", strings.Repeat("t", 50) + ".example.com"}},
		{"upper case and digits", []string{"hostname", "WEB06.Example.COM", "nextServer", "10-0-0-1.example.com"}},
		{"jumpstart extras", []string{"hostname", "sun01.example.com", "install_server_ip", "192.168.122.5", "install_path", "/vol/solgi_5.10/sol10_sparc",
			"root_path_name", "/vol/solgi_5.10/sol10_sparc/Solaris_10/Tools/Boot", "sysid_server_path", "192.168.122.5:/vol/jumpstart/sysidcfg/sysidcfg_primary"}},
		{"ZTP extras", []string{"hostname", "sw01.example.com", "filename", "ztp.cfg/sw01.cfg", "ztp_vendor", "juniper", "ztp_firmware[core]", "jinstall-ex-4200-13.2R1.1-domestic-signed.tgz"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mac := fmt.Sprintf("52:54:00:00:02:%02x", i)
			form := reservationForm("mac", mac, "ip", fmt.Sprintf("192.168.122.%d", 50+i))
			for j := 0; j+1 < len(c.fields); j += 2 {
				form.Set(c.fields[j], c.fields[j+1])
			}
			check(t, p, "POST", "/dhcp/192.168.122.0", form, want{200, ""})
			r := check(t, p, "GET", "/dhcp/192.168.122.0/mac/"+mac, nil, want{status: 200})
			var got map[string]any
			if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range form {
				if k == "related_macs[]" || k == "mac" || k == "ip" {
					continue
				}
				if got[k] != v[0] {
					t.Errorf("%s = %v, want %q (sent %s)", k, got[k], v[0], url.Values(form).Encode())
				}
			}
		})
	}
}
