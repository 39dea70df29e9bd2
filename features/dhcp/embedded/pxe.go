package embedded

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// Client system architectures (option 93, RFC 4578 and the IANA registry) that
// choose a boot file.
const (
	archBIOS        = 0
	archEFIIA32     = 6
	archEFIx64      = 7
	archEFIBC       = 9
	archEFIx64HTTP  = 16
	archEFIIA32HTTP = 15
)

// optionIPXEEncapsulated (175) is sent only by clients already running iPXE.
const optionIPXEEncapsulated = 175

// boot is the next-server and boot file a reply carries.
type boot struct {
	nextServer  netip.Addr // siaddr
	serverName  string     // when next-server was given as a host name
	filename    string
	vendorClass string // echoed for UEFI HTTP boot, which insists on it
}

// chooseBoot picks the boot file: an iPXE client gets the iPXE script (else it
// would load iPXE again, forever); a UEFI HTTP client gets a URL; otherwise the
// reservation's file (Foreman chose the loader for that host), else the subnet's
// default for the client's architecture. Next-server comes from the reservation,
// else the subnet.
func chooseBoot(req *dhcpv4.DHCPv4, sc *subnetConfig, res *record.Reservation, resolve func(string) (netip.Addr, bool)) boot {
	var b boot
	resFile, next := "", sc.NextServer
	if res != nil {
		resFile = res.Filename()
		if n := res.NextServer(); n != "" {
			next = n
		}
	}
	arch, _ := clientArch(req)
	switch {
	case isIPXE(req) && sc.ipxeFilename != "":
		b.filename = sc.ipxeFilename
	case isHTTPClient(req) || arch == archEFIx64HTTP || arch == archEFIIA32HTTP:
		b.vendorClass = "HTTPClient"
		if isURL(resFile) {
			b.filename = resFile
		} else {
			b.filename = sc.httpBootURL
		}
	case resFile != "":
		b.filename = resFile
	case (arch == archEFIIA32 || arch == archEFIx64 || arch == archEFIBC) && sc.filenameEFI != "":
		b.filename = sc.filenameEFI
	default:
		b.filename = sc.Filename
	}
	if next != "" {
		if ip, err := netip.ParseAddr(next); err == nil && ip.Is4() {
			b.nextServer = ip
		} else {
			b.serverName = next
			if resolve != nil {
				if ip, ok := resolve(next); ok {
					b.nextServer = ip
				}
			}
		}
	}
	return b
}

// apply writes the choice into the reply: siaddr and the BOOTP file and sname
// fields, which every PXE ROM reads, plus options 66 and 67 for clients asking.
func (b boot) apply(req, resp *dhcpv4.DHCPv4) {
	if b.nextServer.IsValid() {
		resp.ServerIPAddr = b.nextServer.AsSlice()
	}
	if b.serverName != "" {
		resp.ServerHostName = b.serverName
		if req.IsOptionRequested(dhcpv4.OptionTFTPServerName) {
			resp.Options[dhcpv4.OptionTFTPServerName.Code()] = []byte(b.serverName)
		}
	} else if b.nextServer.IsValid() && req.IsOptionRequested(dhcpv4.OptionTFTPServerName) && isPXE(req) {
		resp.Options[dhcpv4.OptionTFTPServerName.Code()] = []byte(b.nextServer.String())
	}
	if b.filename != "" {
		resp.BootFileName = b.filename
		if req.IsOptionRequested(dhcpv4.OptionBootfileName) && isPXE(req) {
			resp.Options[dhcpv4.OptionBootfileName.Code()] = []byte(b.filename)
		}
	}
	if b.vendorClass != "" {
		resp.Options[dhcpv4.OptionClassIdentifier.Code()] = []byte(b.vendorClass)
	}
}

// clientArch reads option 93, else the "Arch:NNNNN" part of a PXEClient or
// HTTPClient vendor class.
func clientArch(req *dhcpv4.DHCPv4) (uint16, bool) {
	if v := req.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) >= 2 {
		return binary.BigEndian.Uint16(v), true
	}
	vc := req.ClassIdentifier()
	if _, rest, ok := strings.Cut(vc, ":Arch:"); ok {
		digits, _, _ := strings.Cut(rest, ":")
		if n, err := strconv.ParseUint(digits, 10, 16); err == nil {
			return uint16(n), true
		}
	}
	return archBIOS, false
}

func isPXE(req *dhcpv4.DHCPv4) bool {
	vc := req.ClassIdentifier()
	return strings.HasPrefix(vc, "PXEClient") || strings.HasPrefix(vc, "HTTPClient") || isIPXE(req)
}

func isHTTPClient(req *dhcpv4.DHCPv4) bool {
	return strings.HasPrefix(req.ClassIdentifier(), "HTTPClient")
}

// isIPXE: iPXE sends user class "iPXE" (option 77) and its own option 175.
func isIPXE(req *dhcpv4.DHCPv4) bool {
	if req.Options.Has(dhcpv4.GenericOptionCode(optionIPXEEncapsulated)) {
		return true
	}
	return bytes.Contains(req.Options.Get(dhcpv4.OptionUserClassInformation), []byte("iPXE"))
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
