package embedded

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
)

// serve answers only on the configured interfaces, and only DHCP.
func TestServeFiltersInterfacesAndGarbage(t *testing.T) {
	cfg := testConfig(t, ":interfaces: [served0]\n"+engineYAML)
	s := newServer(cfg, newStore(cfg, quietLog()), quietLog())
	now := time.Now()
	s.ifaces.refreshed = now
	s.ifaces.byIndex = map[int]ifaceInfo{
		2: {name: "served0", addrs: []netip.Addr{serverAddr}},
		3: {name: "other0", addrs: []netip.Addr{serverAddr}},
	}
	out := newSender(s)
	discover := request(t, dhcpv4.MessageTypeDiscover, "02:00:00:00:05:01").ToBytes()
	bcast := net.IPv4bcast.To4()

	s.serve(discover, &ipv4.ControlMessage{IfIndex: 3, Dst: bcast}, now, out)
	s.serve([]byte("not dhcp"), &ipv4.ControlMessage{IfIndex: 2, Dst: bcast}, now, out)
	if len(out.msgs) != 0 || s.stats.ignored.Load() != 1 || s.stats.malformed.Load() != 1 {
		t.Fatalf("queued %d replies, ignored %d, malformed %d; want 0, 1, 1", len(out.msgs), s.stats.ignored.Load(), s.stats.malformed.Load())
	}
	s.serve(discover, &ipv4.ControlMessage{IfIndex: 2, Dst: bcast}, now, out)
	if len(out.msgs) != 1 || out.msgs[0].OOB == nil {
		t.Fatalf("served interface: %d replies queued (want 1 broadcast with its interface)", len(out.msgs))
	}
	var cm ipv4.ControlMessage
	if err := cm.Parse(out.msgs[0].OOB); err != nil || cm.IfIndex != 2 {
		t.Fatalf("broadcast leaves through interface %d (%v), want 2", cm.IfIndex, err)
	}
}

// A refused send (here: a closed socket) is logged and skipped, never a panic.
func TestSenderSurvivesFailedSends(t *testing.T) {
	cfg := testConfig(t, engineYAML)
	s := newServer(cfg, newStore(cfg, quietLog()), quietLog())
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.conn = ipv4.NewPacketConn(pc)
	pc.Close()
	out := newSender(s)
	for i := 0; i < 3; i++ {
		out.add(outcome{reply: []byte("x"), dst: destination{addr: netip.MustParseAddrPort("127.0.0.1:9")}}, 1)
	}
	out.flush()
	if len(out.msgs) != 0 || s.stats.replies.Load() != 0 {
		t.Fatalf("after failed sends: %d queued, %d counted as sent", len(out.msgs), s.stats.replies.Load())
	}
}
