package embedded

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// packetInfo is where a request came from, as the socket reported it.
type packetInfo struct {
	ifIndex int
	ifAddrs []netip.Addr // IPv4 addresses of the receiving interface
	dst     netip.Addr   // the address the request was sent to
}

// exchange is one request on its way through the handler chain.
type exchange struct {
	req         *dhcpv4.DHCPv4
	reqType     dhcpv4.MessageType // decoded once: the library decodes on every call
	nak         bool               // the reply is a DHCPNAK
	in          packetInfo
	now         int64
	mac         string
	subnet      *subnetState
	serverID    netip.Addr
	resp        *dhcpv4.DHCPv4
	reservation *record.Reservation
	withLease   bool   // the reply hands out an address: lease time, T1, T2
	durable     *entry // journal this before the reply leaves
}

// handler does one step for a request; false stops the chain without a reply.
type handler func(x *exchange) bool

// engine answers DHCP requests from the store: a chain of small handlers
// (coredhcp style), each doing one thing.
type engine struct {
	st      *store
	log     *logrus.Entry
	resolve func(host string) (netip.Addr, bool)
	chain   []handler
}

func newEngine(st *store, log *logrus.Entry, resolve func(string) (netip.Addr, bool)) *engine {
	e := &engine{st: st, log: log, resolve: resolve}
	e.chain = []handler{e.validate, e.selectSubnet, e.identify, e.assign, e.addOptions, e.addHostname, e.addBoot}
	return e
}

// outcome is what the server does with a request.
type outcome struct {
	reply   []byte
	resp    *dhcpv4.DHCPv4 // what reply encodes, for a lease time cut after the fact
	dst     destination
	durable *entry // non-nil: send only once this is in the journal
}

// final is the reply to send once durable's write is settled. A renewal answered
// from the local copy instead (etcd without quorum or overloaded) gets the lease
// time etcd's record still covers, not the full one the engine put in.
func (o outcome) final(now int64) []byte {
	if o.durable == nil || !o.durable.fromCopy {
		return o.reply
	}
	lease := time.Duration(max(o.durable.Ends-now, 1)) * time.Second
	o.resp.Options[dhcpv4.OptionIPAddressLeaseTime.Code()] = seconds(lease)
	o.resp.Options[dhcpv4.OptionRenewTimeValue.Code()] = seconds(lease / 2)
	o.resp.Options[dhcpv4.OptionRebindingTimeValue.Code()] = seconds(lease * 7 / 8)
	return o.resp.ToBytes()
}

// handle runs the chain; ok is false when nothing is to be sent.
func (e *engine) handle(req *dhcpv4.DHCPv4, in packetInfo, now int64) (outcome, bool) {
	x := &exchange{req: req, in: in, now: now}
	for _, h := range e.chain {
		if !h(x) {
			return outcome{}, false
		}
	}
	dst := replyDestination(x.req, x.nak)
	if dst.broadcastFlag {
		x.resp.SetBroadcast()
	}
	return outcome{reply: x.resp.ToBytes(), resp: x.resp, dst: dst, durable: x.durable}, true
}

// validate drops what is not a DHCP request from a client we can identify.
func (e *engine) validate(x *exchange) bool {
	if x.req.OpCode != dhcpv4.OpcodeBootRequest {
		return false
	}
	hw := x.req.ClientHWAddr
	if len(hw) == 0 || len(hw) > dhcpv4.MaxHWAddrLen {
		return false
	}
	x.reqType = x.req.MessageType()
	switch x.reqType {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeRelease,
		dhcpv4.MessageTypeDecline, dhcpv4.MessageTypeInform:
	default:
		return false
	}
	x.mac = hw.String()
	return true
}

// selectSubnet: a relayed request by the relay's link (option 118, option 82
// link selection, else giaddr); a direct one by the receiving interface's addresses.
func (e *engine) selectSubnet(x *exchange) bool {
	var link netip.Addr
	if giaddr := addr4(x.req.GatewayIPAddr); giaddr.IsValid() && !giaddr.IsUnspecified() {
		link = giaddr
		if rai := x.req.RelayAgentInfo(); rai != nil {
			if v := addr4(rai.Get(dhcpv4.LinkSelectionSubOption)); v.IsValid() {
				link = v
			}
		}
		if v := addr4(x.req.Options.Get(dhcpv4.OptionSubnetSelection)); v.IsValid() {
			link = v
		}
		x.subnet = e.st.subnetContaining(link)
	} else {
		for _, a := range x.in.ifAddrs {
			if x.subnet = e.st.subnetContaining(a); x.subnet != nil {
				break
			}
		}
	}
	if x.subnet == nil {
		e.log.Debugf("DHCP %s from %s: no configured subnet for link %s (interface addresses %v)",
			x.reqType, x.mac, link, x.in.ifAddrs)
		return false
	}
	return true
}

// identify picks our server identifier and ignores messages meant for another server.
func (e *engine) identify(x *exchange) bool {
	switch {
	case isOwn(x.in.dst, x.in.ifAddrs):
		x.serverID = x.in.dst
	default:
		for _, a := range x.in.ifAddrs {
			if x.subnet.Prefix.Contains(a) {
				x.serverID = a
				break
			}
		}
		if !x.serverID.IsValid() && len(x.in.ifAddrs) > 0 {
			x.serverID = x.in.ifAddrs[0]
		}
	}
	if !x.serverID.IsValid() {
		e.log.Debugf("DHCP %s from %s: the receiving interface has no IPv4 address", x.reqType, x.mac)
		return false
	}
	if asked := addr4(x.req.ServerIdentifier()); asked.IsValid() && asked != x.serverID && !isOwn(asked, x.in.ifAddrs) {
		if x.reqType == dhcpv4.MessageTypeRequest {
			e.st.mu.Lock()
			e.st.dropOffer(x.subnet, x.mac)
			e.st.mu.Unlock()
		}
		return false
	}
	return true
}

func isOwn(a netip.Addr, own []netip.Addr) bool {
	for _, o := range own {
		if a == o {
			return true
		}
	}
	return false
}

// assign makes the address decision for each message type.
func (e *engine) assign(x *exchange) bool {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	switch x.reqType {
	case dhcpv4.MessageTypeDiscover:
		return e.offer(x)
	case dhcpv4.MessageTypeRequest:
		return e.acknowledge(x)
	case dhcpv4.MessageTypeRelease:
		if e.st.release(x.subnet, addr4(x.req.ClientIPAddr), x.mac, x.now) {
			e.log.Debugf("DHCPRELEASE of %s by %s", x.req.ClientIPAddr, x.mac)
		}
		return false
	case dhcpv4.MessageTypeDecline:
		ip := addr4(x.req.RequestedIPAddress())
		if e.st.decline(x.subnet, ip, x.mac, x.now) {
			e.log.Warnf("DHCPDECLINE of %s by %s: address quarantined", ip, x.mac)
		}
		return false
	case dhcpv4.MessageTypeInform:
		x.resp = newReply(x.req, dhcpv4.MessageTypeAck)
		x.resp.ClientIPAddr = x.req.ClientIPAddr
		return true
	}
	return false
}

func (e *engine) offer(x *exchange) bool {
	ip, res, ok := e.st.chooseOffer(x.subnet, x.mac, addr4(x.req.RequestedIPAddress()), x.now)
	if !ok {
		// Once per 10 s and subnet: a full pool is news, a flood of lines is not.
		if x.now-x.subnet.poolFullLogged >= 10 {
			x.subnet.poolFullLogged = x.now
			e.log.Warnf("DHCPDISCOVER from %s: no free address in %s", x.mac, x.subnet.Prefix)
		}
		return false
	}
	if res == nil && !e.st.offersNewLeases(x.subnet, ip, x.mac, x.now) {
		e.log.Debugf("DHCPDISCOVER from %s: no offer of %s while the shared state has no quorum", x.mac, ip)
		return false
	}
	if res == nil {
		e.st.holdOffer(x.subnet, ip, x.mac, x.now)
	}
	x.resp = newReply(x.req, dhcpv4.MessageTypeOffer)
	x.resp.YourIPAddr = ip.AsSlice()
	x.reservation, x.withLease = res, true
	return true
}

// acknowledge answers the three kinds of REQUEST (RFC 2131 §4.3.2): SELECTING
// (server id set), INIT-REBOOT (requested address, no ciaddr), RENEWING/REBINDING
// (ciaddr). We are authoritative for our subnets, so a wrong address gets a NAK.
func (e *engine) acknowledge(x *exchange) bool {
	ip := addr4(x.req.RequestedIPAddress())
	if ciaddr := addr4(x.req.ClientIPAddr); ciaddr.IsValid() && !ciaddr.IsUnspecified() && x.req.ServerIdentifier() == nil {
		ip = ciaddr
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		return false
	}
	res, ok := e.st.checkRequest(x.subnet, ip, x.mac, x.now)
	if !ok {
		e.log.Debugf("DHCPNAK to %s for %s", x.mac, ip)
		x.resp, x.nak = newReply(x.req, dhcpv4.MessageTypeNak), true
		x.resp.Options[dhcpv4.OptionMessage.Code()] = []byte("address not available")
		return true
	}
	if res != nil {
		e.st.grantReserved(x.subnet, res, x.now)
	} else {
		prev := x.subnet.byIP[ip]
		renewal := prev != nil && prev.mac == x.mac && prev.state == stateActive && prev.holds(x.now)
		ends := x.now + int64(x.subnet.LeaseTime.Seconds())
		b := e.st.bind(x.subnet, ip, x.mac, stateActive, x.now, ends, x.req.HostName())
		x.durable = bindingEntry(b)
		x.durable.renewal = renewal
		if renewal {
			x.durable.stored = prev.stored
		}
		e.st.stamp(x.durable)
	}
	x.resp = newReply(x.req, dhcpv4.MessageTypeAck)
	x.resp.ClientIPAddr = x.req.ClientIPAddr
	x.resp.YourIPAddr = ip.AsSlice()
	x.reservation, x.withLease = res, true
	return true
}

// addOptions adds the server identifier and, except to a NAK, the subnet's options.
func (e *engine) addOptions(x *exchange) bool {
	sid := x.serverID.As4()
	x.resp.Options[dhcpv4.OptionServerIdentifier.Code()] = sid[:]
	if x.nak {
		return true
	}
	for code, v := range x.subnet.options.config {
		x.resp.Options[code] = v
	}
	if x.withLease {
		for code, v := range x.subnet.options.lease {
			x.resp.Options[code] = v
		}
	}
	return true
}

// addHostname gives a reserved host its name (option 12).
func (e *engine) addHostname(x *exchange) bool {
	if x.reservation != nil && !x.nak {
		if h := x.reservation.Hostname(); h != "" {
			x.resp.Options[dhcpv4.OptionHostName.Code()] = []byte(h)
		}
	}
	return true
}

// addBoot adds next-server and boot file (see pxe.go).
func (e *engine) addBoot(x *exchange) bool {
	if x.nak {
		return true
	}
	b := chooseBoot(x.req, x.subnet.subnetConfig, x.reservation, e.resolve)
	b.apply(x.req, x.resp)
	return true
}

// newReply starts a reply to req without the library's constructor, which draws
// a random transaction id we would overwrite anyway.
func newReply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       dhcpv4.Options{dhcpv4.OptionDHCPMessageType.Code(): {byte(t)}},
	}
	// RFC 3046 and RFC 6842: relay agent information and client identifier come back.
	for _, code := range []dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := req.Options.Get(code); v != nil {
			resp.Options[code.Code()] = v
		}
	}
	return resp
}

// addr4 reads a 4-byte address; anything else is the invalid Addr.
func addr4(b []byte) netip.Addr {
	if len(b) == net.IPv4len {
		return netip.AddrFrom4([4]byte(b))
	}
	if len(b) == net.IPv6len {
		if ip := net.IP(b).To4(); ip != nil {
			return netip.AddrFrom4([4]byte(ip))
		}
	}
	return netip.Addr{}
}
