package embedded

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/settings"
)

// config is dhcp_embedded.yml, validated.
type config struct {
	interfaces       []string // empty: every interface
	stateDir         string
	listen           netip.AddrPort
	netns            string // path of a network namespace to serve in, "" for ours
	fsync            bool
	suggestionHold   time.Duration
	declineProbation time.Duration
	subnets          []*subnetConfig
	state            etcdstate.Config // :state_backend: and the etcd keys
}

// subnetConfig is one entry of :subnets:: what GET /dhcp reports plus the boot
// files the server picks from by client architecture.
type subnetConfig struct {
	record.Subnet
	filenameEFI  string // UEFI PXE (client arch 6, 7, 9)
	httpBootURL  string // UEFI HTTP boot (vendor class HTTPClient)
	ipxeFilename string // for clients already running iPXE: the script URL
	options      subnetOptions
}

const (
	defaultStateDir  = "/var/lib/foreman-proxy/dhcp"
	defaultLeaseTime = 12 * time.Hour
)

var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$`)

// parse reads the provider's settings; every problem is recorded on s.
func parse(s *settings.Section) *config {
	c := &config{
		interfaces:       s.StringList("interfaces", nil),
		stateDir:         s.Path("state_dir", defaultStateDir),
		fsync:            s.Bool("fsync", true),
		suggestionHold:   time.Duration(s.Int("blacklist_duration_minutes", 1800)) * time.Second,
		declineProbation: time.Duration(s.Int("decline_probation", 86400)) * time.Second,
		state:            etcdstate.Parse(s),
	}
	if c.stateDir == "" {
		s.Fail("state_dir", "must name a directory")
	}
	listen := s.String("listen", "0.0.0.0:67")
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().Is4() {
		s.Fail("listen", "must be an IPv4 address and port such as 0.0.0.0:67, got %q", listen)
	}
	c.listen = ap
	if ns := s.String("netns", ""); ns != "" {
		if !strings.Contains(ns, "/") {
			ns = filepath.Join("/var/run/netns", ns)
		}
		c.netns = ns
	}
	if c.suggestionHold < 0 {
		s.Fail("blacklist_duration_minutes", "must not be negative")
	}
	if c.declineProbation < 0 {
		s.Fail("decline_probation", "must not be negative")
	}
	for _, sub := range s.Sections("subnets") {
		if cfg := parseSubnet(sub); cfg != nil {
			c.subnets = append(c.subnets, cfg)
		}
	}
	if len(c.subnets) == 0 && s.Err() == nil {
		s.Fail("subnets", "must list at least one subnet ({:network:, :netmask:, ...})")
	}
	checkOverlaps(s, c.subnets)
	return c
}

func parseSubnet(s *settings.Section) *subnetConfig {
	network := parseAddr(s, "network", s.Required("network"))
	mask := parseAddr(s, "netmask", s.Required("netmask"))
	if !network.IsValid() || !mask.IsValid() {
		return nil
	}
	bits, err := record.MaskBits(mask)
	if err != nil {
		s.Fail("netmask", "%v", err)
		return nil
	}
	prefix := netip.PrefixFrom(network, bits)
	if prefix.Masked().Addr() != network {
		s.Fail("network", "%s is not the network address of %s/%s", network, prefix.Masked().Addr(), mask)
		return nil
	}
	c := &subnetConfig{Subnet: record.Subnet{
		Prefix:     prefix,
		Routers:    parseAddrs(s, "routers"),
		DomainName: s.String("domain_name", ""),
		DNSServers: parseAddrs(s, "domain_name_servers"),
		NTPServers: parseAddrs(s, "ntp_servers"),
		MTU:        s.Int("interface_mtu", 0),
		LeaseTime:  time.Duration(s.Int("lease_time", int(defaultLeaseTime/time.Second))) * time.Second,
		NextServer: s.String("next_server", ""),
		Filename:   s.String("filename", ""),
	}}
	c.filenameEFI = s.String("filename_efi", "")
	c.httpBootURL = s.String("http_boot_url", "")
	c.ipxeFilename = s.String("ipxe_filename", "")
	if r := s.StringList("range", nil); r != nil {
		c.Range = parseRange(s, prefix, r)
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		s.Fail("interface_mtu", "must be between 68 and 65535, got %d", c.MTU)
	}
	if c.LeaseTime <= 0 {
		s.Fail("lease_time", "must be a positive number of seconds")
	}
	if ns := c.NextServer; ns != "" {
		if ip, err := netip.ParseAddr(ns); err == nil && !ip.Is4() {
			s.Fail("next_server", "must be an IPv4 address or a host name, got %q", ns)
		} else if err != nil && !hostnamePattern.MatchString(ns) {
			s.Fail("next_server", "must be an IPv4 address or a host name, got %q", ns)
		} else if err != nil && len(ns) > maxServerName {
			s.Fail("next_server", "a host name must fit the %d bytes of a reply's sname field, got %d", maxServerName, len(ns))
		}
	}
	for key, file := range map[string]string{"filename": c.Filename, "filename_efi": c.filenameEFI,
		"http_boot_url": c.httpBootURL, "ipxe_filename": c.ipxeFilename} {
		checkBootFileSetting(s, key, file)
	}
	c.options = encodeSubnetOptions(c)
	return c
}

func parseRange(s *settings.Section, prefix netip.Prefix, r []string) *record.Range {
	if len(r) != 2 {
		s.Fail("range", "must be [first, last], got %d items", len(r))
		return nil
	}
	first, last := parseAddr(s, "range", r[0]), parseAddr(s, "range", r[1])
	if !first.IsValid() || !last.IsValid() {
		return nil
	}
	if !prefix.Contains(first) || !prefix.Contains(last) {
		s.Fail("range", "%s-%s does not lie in %s", first, last, prefix)
		return nil
	}
	if first.Compare(last) > 0 {
		s.Fail("range", "first address %s is after last address %s", first, last)
		return nil
	}
	return &record.Range{First: first, Last: last}
}

func parseAddr(s *settings.Section, key, text string) netip.Addr {
	if text == "" {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(text)
	if err != nil || !ip.Is4() {
		s.Fail(key, "must be an IPv4 address, got %q", text)
		return netip.Addr{}
	}
	return ip
}

func parseAddrs(s *settings.Section, key string) []netip.Addr {
	var out []netip.Addr
	for _, text := range s.StringList(key, nil) {
		if ip := parseAddr(s, key, text); ip.IsValid() {
			out = append(out, ip)
		}
	}
	return out
}

func checkOverlaps(s *settings.Section, subnets []*subnetConfig) {
	for i, a := range subnets {
		for _, b := range subnets[i+1:] {
			if a.Prefix.Overlaps(b.Prefix) {
				s.Fail("subnets", "%s and %s overlap", a.Prefix, b.Prefix)
			}
		}
	}
}

// What the BOOTP fields of a reply hold, each ending with a NUL (RFC 2131 §2): the
// API refuses longer reservations the same way (features/dhcp/validate.go).
const (
	maxBootFile   = 127 // file
	maxServerName = 63  // sname
)

// checkBootFileSetting: a boot file or URL goes into the reply's file field, which
// would cut it.
func checkBootFileSetting(s *settings.Section, key, file string) {
	if len(file) > maxBootFile {
		s.Fail(key, "must fit the %d bytes of a reply's file field, got %d", maxBootFile, len(file))
		return
	}
	for i := 0; i < len(file); i++ {
		if file[i] < 0x20 || file[i] > 0x7e {
			s.Fail(key, "must be printable ASCII, got %q", file)
			return
		}
	}
}
