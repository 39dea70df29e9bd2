package embedded

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// seedPackets are valid requests of every kind the server handles.
func seedPackets(t testing.TB) [][]byte {
	mac := "02:00:00:00:0f:01"
	sid := withOpt(dhcpv4.OptServerIdentifier(serverAddr.AsSlice()))
	req := withOpt(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.99.1.1")))
	relay := dhcpv4.WithGatewayIP(net.ParseIP("10.98.0.1"))
	link := withOpt(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.LinkSelectionSubOption, []byte{10, 99, 0, 0})))
	pxe := withOpt(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000"))
	packets := []*dhcpv4.DHCPv4{
		request(t, dhcpv4.MessageTypeDiscover, mac),
		request(t, dhcpv4.MessageTypeDiscover, mac, pxe, withOpt(dhcpv4.OptClientArch(iana.EFI_X86_64)), withOpt(dhcpv4.OptUserClass("iPXE"))),
		request(t, dhcpv4.MessageTypeRequest, mac, sid, req),
		request(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithClientIP(net.ParseIP("10.99.1.1"))),
		request(t, dhcpv4.MessageTypeDiscover, mac, relay, link),
		request(t, dhcpv4.MessageTypeRequest, mac, relay, req),
		request(t, dhcpv4.MessageTypeRelease, mac, sid, dhcpv4.WithClientIP(net.ParseIP("10.99.1.1"))),
		request(t, dhcpv4.MessageTypeDecline, mac, sid, req),
		request(t, dhcpv4.MessageTypeInform, mac, dhcpv4.WithClientIP(net.ParseIP("10.99.7.7"))),
	}
	var out [][]byte
	for _, p := range packets {
		out = append(out, p.ToBytes())
	}
	return out
}

// FuzzHandle feeds arbitrary datagrams through parsing and the handler chain, as
// the server does: no panic, every reply parses and answers the request, and the
// store stays consistent.
func FuzzHandle(f *testing.F) {
	for _, p := range seedPackets(f) {
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 6, 0})
	e := testEngine(f)
	addReservation(f, e, record.Reservation{Name: "fuzz", IP: netip.MustParseAddr("10.99.9.9"), MAC: "02:00:00:00:0f:02",
		Options: map[string]string{"hostname": "fuzz"}})
	relayed := packetInfo{ifIndex: 2, ifAddrs: direct.ifAddrs, dst: serverAddr}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		for _, in := range []packetInfo{direct, relayed} {
			out, ok := e.handle(req, in, nowUnix())
			if !ok {
				continue
			}
			reply, err := dhcpv4.FromBytes(out.reply)
			if err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if reply.OpCode != dhcpv4.OpcodeBootReply || reply.TransactionID != req.TransactionID {
				t.Fatalf("reply op %v xid %v for request xid %v", reply.OpCode, reply.TransactionID, req.TransactionID)
			}
			checkAssigned(t, e.st, reply)
		}
		checkStore(t, e.st)
	})
}

// FuzzReplayLine feeds arbitrary journal lines to the replay: bad lines are
// errors, never panics or a corrupt state.
func FuzzReplayLine(f *testing.F) {
	f.Add([]byte(`{"k":"lease","ip":"10.99.1.1","mac":"02:00:00:00:00:01","starts":1,"ends":9999999999}`))
	f.Add([]byte(`{"k":"decline","ip":"10.99.1.2","mac":"02:00:00:00:00:01","ends":9999999999}`))
	f.Add([]byte(`{"k":"reserve","ip":"10.99.9.1","mac":"02:00:00:00:00:01","subnet":"10.99.0.0/16","name":"h","options":{"filename":"x"}}`))
	f.Add([]byte(`{"k":"unreserve","ip":"10.99.9.1","mac":"02:00:00:00:00:01","subnet":"10.99.0.0/16"}`))
	f.Add([]byte(`{"k":"lease","ip":"::1","mac":""}`))
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		e.st.mu.Lock()
		_ = e.st.applyLine(line)
		e.st.mu.Unlock()
		checkStore(t, e.st)
	})
}

// checkAssigned: an offered or ACKed address lies in the subnet and is the
// client's (by reservation or binding).
func checkAssigned(t *testing.T, st *store, reply *dhcpv4.DHCPv4) {
	t.Helper()
	typ := reply.MessageType()
	ip := addr4(reply.YourIPAddr)
	if (typ != dhcpv4.MessageTypeOffer && typ != dhcpv4.MessageTypeAck) || !ip.IsValid() || ip.IsUnspecified() {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subnetContaining(ip)
	if sub == nil {
		t.Fatalf("%v hands out %s, outside every subnet", typ, ip)
	}
	mac := reply.ClientHWAddr.String()
	if r := sub.reservedByMAC[mac]; r != nil && r.IP == ip {
		return
	}
	if b := sub.byIP[ip]; b == nil || b.mac != mac {
		t.Fatalf("%v hands %s to %s, but the store binds it to %v", typ, ip, mac, b)
	}
}

// checkStore verifies the store's indexes agree with each other.
func checkStore(t *testing.T, st *store) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, sub := range st.subnets {
		for ip, b := range sub.byIP {
			if b.ip != ip || !sub.Prefix.Contains(ip) {
				t.Fatalf("binding %+v filed under %s in %s", b, ip, sub.Prefix)
			}
		}
		for mac, b := range sub.byMAC {
			if b.mac != mac || sub.byIP[b.ip] != b {
				t.Fatalf("client index %s points at %+v, not its address binding", mac, b)
			}
		}
		for mac, r := range sub.reservedByMAC {
			found := false
			for _, x := range sub.reservedByIP[r.IP] {
				found = found || x == r
			}
			if r.MAC != mac || !found {
				t.Fatalf("reservation index %s points at %+v", mac, r)
			}
		}
	}
}
