package embedded

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/settings"
)

const engineYAML = `
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
    :range: [10.99.1.1, 10.99.1.3]
    :routers: [10.99.0.1]
    :domain_name_servers: [10.99.0.53]
    :domain_name: example.test
    :lease_time: 600
    :next_server: 10.99.0.69
    :filename: pxelinux.0
    :filename_efi: grub2/grubx64.efi
    :http_boot_url: http://10.99.0.1:8000/httpboot/grub2/grubx64.efi
    :ipxe_filename: http://foreman.example.test/unattended/iPXE
  - :network: 10.98.0.0
    :netmask: 255.255.255.0
    :range: [10.98.0.10, 10.98.0.20]
  - :network: 10.97.0.0
    :netmask: 255.255.255.0
`

func testConfig(t testing.TB, yaml string) *config {
	t.Helper()
	sec, err := settings.Parse("dhcp_embedded.yml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg := parse(sec)
	if err := sec.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

// testEngine is an engine over an in-memory store (no journal: nothing to sync).
func testEngine(t testing.TB) *engine {
	t.Helper()
	cfg := testConfig(t, engineYAML)
	names := map[string]netip.Addr{"tftp.example.test": netip.MustParseAddr("10.99.0.70")}
	return newEngine(newStore(cfg, quietLog()), quietLog(), func(h string) (netip.Addr, bool) {
		ip, ok := names[h]
		return ip, ok
	})
}

var (
	serverAddr = netip.MustParseAddr("10.99.0.1")
	direct     = packetInfo{ifIndex: 2, ifAddrs: []netip.Addr{serverAddr}, dst: netip.MustParseAddr("255.255.255.255")}
)

func hw(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func request(t testing.TB, typ dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	p, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithMessageType(typ), dhcpv4.WithHwAddr(hw(mac))}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exchange sends req through the engine; reply is nil when the engine stays silent.
func send(t testing.TB, e *engine, req *dhcpv4.DHCPv4, in packetInfo) (*dhcpv4.DHCPv4, outcome) {
	t.Helper()
	out, ok := e.handle(req, in, nowUnix())
	if !ok {
		return nil, out
	}
	reply, err := dhcpv4.FromBytes(out.reply)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return reply, out
}

func withOpt(o dhcpv4.Option) dhcpv4.Modifier { return dhcpv4.WithOption(o) }

// dora runs DISCOVER then REQUEST for mac and returns the ACKed address.
func dora(t testing.TB, e *engine, mac string, in packetInfo, mods ...dhcpv4.Modifier) netip.Addr {
	t.Helper()
	offer, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, mac, mods...), in)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("DISCOVER from %s: reply %v, want OFFER", mac, offer)
	}
	req := request(t, dhcpv4.MessageTypeRequest, mac, append(mods,
		withOpt(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())),
		withOpt(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)))...)
	ack, out := send(t, e, req, in)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(offer.YourIPAddr) {
		t.Fatalf("REQUEST from %s for %s: reply %v, want ACK", mac, offer.YourIPAddr, ack)
	}
	if e.st.subnetContaining(addr4(ack.YourIPAddr)).reservedByMAC[ack.ClientHWAddr.String()] == nil && out.durable == nil {
		t.Fatal("a dynamic ACK must wait for the journal")
	}
	return addr4(ack.YourIPAddr)
}

func TestDORAOptionsAndRouting(t *testing.T) {
	e := testEngine(t)
	offer, out := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:01"), direct)
	if offer.MessageType() != dhcpv4.MessageTypeOffer || addr4(offer.YourIPAddr) != netip.MustParseAddr("10.99.1.1") {
		t.Fatalf("offer = %v", offer)
	}
	if out.durable != nil {
		t.Fatal("an OFFER is not journaled")
	}
	if !out.dst.broadcast || out.dst.addr.Port() != 68 {
		t.Fatalf("offer to a client without address goes to %+v, want broadcast :68", out.dst)
	}
	checks := map[string][2]string{
		"server id": {addr4(offer.ServerIdentifier()).String(), "10.99.0.1"},
		"mask":      {net.IP(offer.SubnetMask()).String(), "255.255.0.0"},
		"router":    {offer.Router()[0].String(), "10.99.0.1"},
		"dns":       {offer.DNS()[0].String(), "10.99.0.53"},
		"domain":    {offer.DomainName(), "example.test"},
		"lease":     {offer.IPAddressLeaseTime(0).String(), "10m0s"},
		"t1":        {offer.IPAddressRenewalTime(0).String(), "5m0s"},
		"t2":        {offer.IPAddressRebindingTime(0).String(), "8m45s"},
		"siaddr":    {offer.ServerIPAddr.String(), "10.99.0.69"},
		"file":      {offer.BootFileName, "pxelinux.0"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %s, want %s", what, c[0], c[1])
		}
	}
	ip := dora(t, e, "02:00:00:00:00:01", direct)
	if ip != netip.MustParseAddr("10.99.1.1") {
		t.Fatalf("ACKed %s, want the offered 10.99.1.1", ip)
	}
}

func TestNoAddressTwiceAndPoolExhaustion(t *testing.T) {
	e := testEngine(t)
	seen := map[netip.Addr]string{}
	for _, mac := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"} {
		ip := dora(t, e, mac, direct)
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s given to %s and %s", ip, other, mac)
		}
		seen[ip] = mac
	}
	if reply, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:04"), direct); reply != nil {
		t.Fatalf("pool of 3 is full, yet a fourth client got %v", reply)
	}
	// Asking for someone else's address is refused.
	req := request(t, dhcpv4.MessageTypeRequest, "02:00:00:00:00:04", withOpt(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.99.1.1"))))
	if nak, _ := send(t, e, req, direct); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("INIT-REBOOT for a taken address: %v, want NAK", nak)
	}
	// A returning client gets its own address again.
	if ip := dora(t, e, "02:00:00:00:00:02", direct); seen[ip] != "02:00:00:00:00:02" {
		t.Fatalf("returning client got %s", ip)
	}
}

func TestRequestForAnotherServerDropsOffer(t *testing.T) {
	e := testEngine(t)
	offer, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:00:01"), direct)
	other := request(t, dhcpv4.MessageTypeRequest, "02:00:00:00:00:01",
		withOpt(dhcpv4.OptServerIdentifier(net.ParseIP("10.99.0.250"))), withOpt(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)))
	if reply, _ := send(t, e, other, direct); reply != nil {
		t.Fatalf("REQUEST naming another server got %v", reply)
	}
	// The offered address is free again: three other clients share the pool of three.
	found := false
	for _, mac := range []string{"02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:04"} {
		next, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, mac), direct)
		if next == nil {
			t.Fatalf("%s got no offer: the dropped offer still holds its address", mac)
		}
		found = found || next.YourIPAddr.Equal(offer.YourIPAddr)
	}
	if !found {
		t.Fatalf("the dropped offer's %s was not offered again", offer.YourIPAddr)
	}
}

func TestRenewRebootReleaseDecline(t *testing.T) {
	e := testEngine(t)
	mac := "02:00:00:00:00:01"
	ip := dora(t, e, mac, direct)

	renew := request(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithClientIP(ip.AsSlice()))
	ack, out := send(t, e, renew, packetInfo{ifIndex: 2, ifAddrs: direct.ifAddrs, dst: serverAddr})
	if ack.MessageType() != dhcpv4.MessageTypeAck || out.durable == nil || out.dst.broadcast || out.dst.addr != netip.AddrPortFrom(ip, 68) {
		t.Fatalf("renew: %v to %+v (durable %v), want a journaled ACK unicast to %s:68", ack.MessageType(), out.dst, out.durable != nil, ip)
	}
	reboot := request(t, dhcpv4.MessageTypeRequest, mac, withOpt(dhcpv4.OptRequestedIPAddress(ip.AsSlice())))
	if ack, _ := send(t, e, reboot, direct); ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("INIT-REBOOT with own address: %v", ack.MessageType())
	}
	wrongNet := request(t, dhcpv4.MessageTypeRequest, mac, withOpt(dhcpv4.OptRequestedIPAddress(net.ParseIP("192.168.1.5"))))
	nak, out := send(t, e, wrongNet, direct)
	if nak.MessageType() != dhcpv4.MessageTypeNak || !out.dst.broadcast || nak.YourIPAddr.To4()[0] != 0 {
		t.Fatalf("INIT-REBOOT from another network: %v to %+v, want broadcast NAK", nak.MessageType(), out.dst)
	}

	release := request(t, dhcpv4.MessageTypeRelease, mac, dhcpv4.WithClientIP(ip.AsSlice()),
		withOpt(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())))
	if reply, _ := send(t, e, release, direct); reply != nil {
		t.Fatal("RELEASE is not answered")
	}
	if l, _ := e.st.leaseByIP(netip.MustParsePrefix("10.99.0.0/16"), ip); l.State != record.LeaseReleased {
		t.Fatalf("after RELEASE the lease is %s", l.State)
	}
	if again := dora(t, e, mac, direct); again != ip {
		t.Fatalf("after RELEASE the client got %s, want its %s back", again, ip)
	}

	decline := request(t, dhcpv4.MessageTypeDecline, mac, withOpt(dhcpv4.OptRequestedIPAddress(ip.AsSlice())),
		withOpt(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())))
	if reply, _ := send(t, e, decline, direct); reply != nil {
		t.Fatal("DECLINE is not answered")
	}
	if !e.st.inUse(netip.MustParsePrefix("10.99.0.0/16"), ip) {
		t.Fatal("a declined address must be quarantined")
	}
	if next := dora(t, e, mac, direct); next == ip {
		t.Fatalf("after DECLINE the client got the quarantined %s again", ip)
	}
}

func TestInform(t *testing.T) {
	e := testEngine(t)
	inform := request(t, dhcpv4.MessageTypeInform, "02:00:00:00:00:09", dhcpv4.WithClientIP(net.ParseIP("10.99.5.5")))
	ack, out := send(t, e, inform, direct)
	if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(net.IPv4zero) || ack.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
		t.Fatalf("INFORM reply %v yiaddr %s lease option %v", ack.MessageType(), ack.YourIPAddr, ack.Options.Has(dhcpv4.OptionIPAddressLeaseTime))
	}
	if ack.DomainName() != "example.test" || out.dst.addr != netip.MustParseAddrPort("10.99.5.5:68") || out.durable != nil {
		t.Fatalf("INFORM reply domain %q to %+v", ack.DomainName(), out.dst)
	}
}

func TestRelaySelectsSubnet(t *testing.T) {
	e := testEngine(t)
	relayed := packetInfo{ifIndex: 2, ifAddrs: direct.ifAddrs, dst: serverAddr}
	giaddr := dhcpv4.WithGatewayIP(net.ParseIP("10.98.0.1"))
	offer, out := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:01:01", giaddr), relayed)
	if addr4(offer.YourIPAddr) != netip.MustParseAddr("10.98.0.10") || out.dst.addr != netip.MustParseAddrPort("10.98.0.1:67") || out.dst.broadcast {
		t.Fatalf("relayed offer %s to %+v, want 10.98.0.10 to the relay 10.98.0.1:67", offer.YourIPAddr, out.dst)
	}
	if addr4(offer.ServerIdentifier()) != serverAddr || !offer.GatewayIPAddr.Equal(net.ParseIP("10.98.0.1")) {
		t.Fatalf("relayed offer server id %s giaddr %s", offer.ServerIdentifier(), offer.GatewayIPAddr)
	}
	// Option 82 link selection wins over giaddr, and comes back to the relay.
	link := dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.LinkSelectionSubOption, []byte{10, 99, 0, 0}))
	offer, _ = send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:01:02", giaddr, withOpt(link)), relayed)
	if addr4(offer.YourIPAddr) != netip.MustParseAddr("10.99.1.1") || offer.RelayAgentInfo() == nil {
		t.Fatalf("link-selection offer %s (relay info %v), want 10.99.1.1 with option 82 echoed", offer.YourIPAddr, offer.RelayAgentInfo())
	}
	// A NAK through a relay carries the broadcast bit.
	bad := request(t, dhcpv4.MessageTypeRequest, "02:00:00:00:01:03", giaddr, withOpt(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.98.0.99"))))
	nak, out := send(t, e, bad, relayed)
	if nak.MessageType() != dhcpv4.MessageTypeNak || !nak.IsBroadcast() || out.dst.addr.Port() != 67 {
		t.Fatalf("relayed NAK %v broadcast bit %v to %+v", nak.MessageType(), nak.IsBroadcast(), out.dst)
	}
	// A relay for a link we do not serve gets nothing.
	if reply, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:01:04", dhcpv4.WithGatewayIP(net.ParseIP("172.16.0.1"))), relayed); reply != nil {
		t.Fatalf("unknown relay link answered: %v", reply)
	}
}

func addReservation(t testing.TB, e *engine, r record.Reservation) {
	t.Helper()
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	sub := e.st.subnetContaining(r.IP)
	r.Subnet = sub.Subnet
	e.st.putReservation(sub, &r)
}

func TestReservationWinsAndReservedOnlySubnet(t *testing.T) {
	e := testEngine(t)
	addReservation(t, e, record.Reservation{Name: "h1", IP: netip.MustParseAddr("10.99.9.9"), MAC: "02:00:00:00:02:01",
		Options: map[string]string{"hostname": "h1.example.test", "nextServer": "tftp.example.test", "filename": "grub2/shimx64.efi"}})
	ip := dora(t, e, "02:00:00:00:02:01", direct)
	ack, out := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:02:01"), direct)
	if ip != netip.MustParseAddr("10.99.9.9") || ack.HostName() != "h1.example.test" || ack.BootFileName != "grub2/shimx64.efi" ||
		!ack.ServerIPAddr.Equal(net.ParseIP("10.99.0.70")) || ack.ServerHostName != "tftp.example.test" || out.durable != nil {
		t.Fatalf("reserved client: ip %s hostname %q file %q siaddr %s sname %q", ip, ack.HostName(), ack.BootFileName, ack.ServerIPAddr, ack.ServerHostName)
	}
	// Another client may not take the reserved address.
	req := request(t, dhcpv4.MessageTypeRequest, "02:00:00:00:02:02", withOpt(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.99.9.9"))))
	if nak, _ := send(t, e, req, direct); nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("foreign REQUEST for a reserved address: %v", nak.MessageType())
	}
	// A subnet without a range serves reservations only.
	onLink := packetInfo{ifIndex: 3, ifAddrs: []netip.Addr{netip.MustParseAddr("10.97.0.1")}, dst: direct.dst}
	if reply, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:02:03"), onLink); reply != nil {
		t.Fatalf("reservation-only subnet offered %v", reply.YourIPAddr)
	}
	addReservation(t, e, record.Reservation{Name: "h3", IP: netip.MustParseAddr("10.97.0.33"), MAC: "02:00:00:00:02:03", Options: map[string]string{}})
	if ip := dora(t, e, "02:00:00:00:02:03", onLink); ip != netip.MustParseAddr("10.97.0.33") {
		t.Fatalf("reservation-only subnet gave %s", ip)
	}
}

func TestBootFileByClient(t *testing.T) {
	e := testEngine(t)
	const ipxeURL = "http://foreman.example.test/unattended/iPXE"
	cases := []struct {
		name        string
		mods        []dhcpv4.Modifier
		file        string
		vendorClass string
	}{
		{"BIOS PXE", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")), withOpt(dhcpv4.OptClientArch(iana.INTEL_X86PC))}, "pxelinux.0", ""},
		{"UEFI x64 by option 93", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("PXEClient")), withOpt(dhcpv4.OptClientArch(iana.EFI_X86_64))}, "grub2/grubx64.efi", ""},
		{"UEFI x64 by vendor class", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"))}, "grub2/grubx64.efi", ""},
		{"UEFI HTTP boot", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")), withOpt(dhcpv4.OptClientArch(iana.EFI_X86_64_HTTP))}, "http://10.99.0.1:8000/httpboot/grub2/grubx64.efi", "HTTPClient"},
		{"iPXE user class", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")), withOpt(dhcpv4.OptUserClass("iPXE"))}, ipxeURL, ""},
		{"iPXE option 175", []dhcpv4.Modifier{withOpt(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010")), withOpt(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{1, 1, 1}))}, ipxeURL, ""},
		{"plain client", nil, "pxelinux.0", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			offer, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:03:01", c.mods...), direct)
			if offer.BootFileName != c.file || offer.ClassIdentifier() != c.vendorClass {
				t.Fatalf("file %q vendor class %q, want %q %q", offer.BootFileName, offer.ClassIdentifier(), c.file, c.vendorClass)
			}
		})
	}
	// The reservation's boot file wins over the arch default, but not for iPXE.
	addReservation(t, e, record.Reservation{Name: "r", IP: netip.MustParseAddr("10.99.9.10"), MAC: "02:00:00:00:03:99",
		Options: map[string]string{"filename": "pxelinux.0", "nextServer": "10.99.0.71"}})
	uefi := withOpt(dhcpv4.OptClientArch(iana.EFI_X86_64))
	offer, _ := send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:03:99", uefi), direct)
	if offer.BootFileName != "pxelinux.0" || !offer.ServerIPAddr.Equal(net.ParseIP("10.99.0.71")) {
		t.Fatalf("reserved UEFI client: file %q next-server %s", offer.BootFileName, offer.ServerIPAddr)
	}
	offer, _ = send(t, e, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:03:99", uefi, withOpt(dhcpv4.OptUserClass("iPXE"))), direct)
	if offer.BootFileName != ipxeURL {
		t.Fatalf("reserved iPXE client: file %q, want the script", offer.BootFileName)
	}
}
