package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

const sharedYAML = `
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
    :range: [10.99.1.1, 10.99.1.250]
    :lease_time: 600
`

// node is one proxy's DHCP engine on etcd, with its committer running.
type node struct {
	e  *engine
	st *store
	in packetInfo // the node's own server address on the shared segment
}

func startNode(t *testing.T, cluster *etcdtest.Cluster, prefix string, serverIP string) *node {
	t.Helper()
	return startNodeWith(t, cluster, prefix, serverIP, sharedYAML)
}

func startNodeWith(t testing.TB, cluster *etcdtest.Cluster, prefix, serverIP, yaml string) *node {
	t.Helper()
	cfg := testConfig(t, yaml)
	cfg.state = cluster.Config(prefix)
	st, err := openStore(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { st.shared.run(ctx, func() {}); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.close() })
	ip := netip.MustParseAddr(serverIP)
	return &node{e: newEngine(st, quietLog(), func(string) (netip.Addr, bool) { return netip.Addr{}, false }), st: st,
		in: packetInfo{ifIndex: 2, ifAddrs: []netip.Addr{ip}, dst: netip.MustParseAddr("255.255.255.255")}}
}

// ask sends req to n and, for a reply that waits for etcd, waits for the write
// like the server does: no ACK leaves unless etcd took the lease.
func (n *node) ask(t testing.TB, req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	t.Helper()
	out, ok := n.e.handle(req, n.in, nowUnix())
	if !ok {
		return nil
	}
	if out.durable != nil {
		errc := make(chan error, 1)
		n.st.commit(out.durable, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			return nil
		}
	}
	reply, err := dhcpv4.FromBytes(out.final(nowUnix()))
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// segmentDORA is one client on a segment both nodes serve: its DISCOVER reaches
// both, it takes one offer at random and broadcasts its REQUEST (the other node
// drops its offer). It returns the ACKed address and the node that ACKed it.
func segmentDORA(t testing.TB, nodes []*node, mac string, rnd *rand.Rand) (netip.Addr, int) {
	t.Helper()
	var offers []*dhcpv4.DHCPv4
	var from []int
	for i, n := range nodes {
		if o := n.ask(t, request(t, dhcpv4.MessageTypeDiscover, mac)); o != nil {
			offers, from = append(offers, o), append(from, i)
		}
	}
	if len(offers) == 0 {
		return netip.Addr{}, -1
	}
	pick := rnd.Intn(len(offers))
	req := request(t, dhcpv4.MessageTypeRequest, mac,
		withOpt(dhcpv4.OptServerIdentifier(offers[pick].ServerIdentifier())),
		withOpt(dhcpv4.OptRequestedIPAddress(offers[pick].YourIPAddr)))
	var acked netip.Addr
	for i, n := range nodes {
		if reply := n.ask(t, req); reply != nil && i == from[pick] && reply.MessageType() == dhcpv4.MessageTypeAck {
			acked = addr4(reply.YourIPAddr)
		}
	}
	return acked, from[pick]
}

func renew(t testing.TB, n *node, mac string, ip netip.Addr) *dhcpv4.DHCPv4 {
	t.Helper()
	return n.ask(t, request(t, dhcpv4.MessageTypeRequest, mac, func(d *dhcpv4.DHCPv4) { d.ClientIPAddr = ip.AsSlice() }))
}

func leaseInEtcd(t testing.TB, cli *etcdstate.Client, ip netip.Addr) entry {
	t.Helper()
	v, rev, err := cli.Get(context.Background(), leaseKey(ip.String()))
	if err != nil {
		t.Fatal(err)
	}
	var e entry
	if rev == 0 || json.Unmarshal(v, &e) != nil {
		t.Fatalf("lease of %s is not in etcd (%q)", ip, v)
	}
	return e
}

func TestTwoNodesOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	prefix := "/sp-dhcp-two/"
	a := startNode(t, cluster, prefix, "10.99.0.1")
	b := startNode(t, cluster, prefix, "10.99.0.2")
	nodes := []*node{a, b}
	cli := cluster.Connect(prefix)

	t.Run("clients served by both at once never share an address; every ACK is in etcd", func(t *testing.T) {
		const clients = 200 // of a 250-address pool: the nodes' cursors meet
		acked := map[netip.Addr]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		retries := 0
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rnd := rand.New(rand.NewSource(int64(w)))
				for c := w; c < clients; c += 16 {
					mac := fmt.Sprintf("02:00:00:00:%02x:%02x", c/256, c%256)
					for try := 0; ; try++ {
						ip, _ := segmentDORA(t, nodes, mac, rnd)
						if ip.IsValid() {
							mu.Lock()
							if other, dup := acked[ip]; dup {
								t.Errorf("%s ACKed to %s and %s", ip, other, mac)
							}
							acked[ip] = mac
							mu.Unlock()
							break
						}
						mu.Lock()
						retries++
						mu.Unlock()
						if try == 10 {
							t.Errorf("%s got no lease in 10 tries", mac)
							break
						}
					}
				}
			}(w)
		}
		wg.Wait()
		if len(acked) != clients {
			t.Fatalf("%d clients leased, want %d", len(acked), clients)
		}
		for ip, mac := range acked {
			if e := leaseInEtcd(t, cli, ip); e.MAC != mac || e.Kind != kindLease {
				t.Fatalf("etcd holds %+v for %s, ACKed to %s", e, ip, mac)
			}
		}
		t.Logf("%d clients, 0 duplicate addresses, %d DORAs retried after a lost race (claims lost: A %d, B %d)",
			clients, retries, a.st.shared.lost.Load(), b.st.shared.lost.Load())
	})

	t.Run("a lease granted by one node is renewed by the other", func(t *testing.T) {
		ip, by := segmentDORA(t, []*node{a}, "02:00:00:01:00:01", rand.New(rand.NewSource(1)))
		if !ip.IsValid() || by != 0 {
			t.Fatal("no lease from A")
		}
		waitUntil(t, 30*time.Second, "B's copy has A's lease", func() bool {
			l, ok := b.st.leaseByMAC(netip.MustParsePrefix("10.99.0.0/16"), "02:00:00:01:00:01")
			return ok && l.IP == ip
		})
		before := leaseInEtcd(t, cli, ip)
		time.Sleep(1100 * time.Millisecond) // a renewal a second later has a later expiry
		if ack := renew(t, b, "02:00:00:01:00:01", ip); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || addr4(ack.YourIPAddr) != ip {
			t.Fatalf("B's answer to the renewal: %v", ack)
		}
		if after := leaseInEtcd(t, cli, ip); after.Ends <= before.Ends {
			t.Fatalf("etcd's expiry did not move: %d then %d", before.Ends, after.Ends)
		}
	})

	t.Run("a reservation written through A is served by B", func(t *testing.T) {
		mac := "02:00:00:02:00:01"
		res := record.Reservation{Name: "pxe-host", IP: netip.MustParseAddr("10.99.2.10"), MAC: mac,
			Subnet: record.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16")}}
		start := time.Now()
		if err := a.st.addReservation(context.Background(), res); err != nil {
			t.Fatal(err)
		}
		took := waitUntil(t, 30*time.Second, "B offers the reserved address", func() bool {
			o := b.ask(t, request(t, dhcpv4.MessageTypeDiscover, mac))
			return o != nil && addr4(o.YourIPAddr) == res.IP
		})
		t.Logf("reservation stored through A (%s) and offered by B %s later", time.Since(start)-took, took)
		if err := b.st.deleteReservation(context.Background(), res); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "A drops the reservation B deleted", func() bool {
			_, ok := a.st.reservationByMAC(res.Subnet.Prefix, mac)
			return !ok
		})
	})

	t.Run("without quorum: renewals answered, new leases and API writes refused; back: nothing lost", func(t *testing.T) {
		mac := "02:00:00:03:00:01"
		ip, _ := segmentDORA(t, nodes, mac, rand.New(rand.NewSource(3)))
		if !ip.IsValid() {
			t.Fatal("no lease")
		}
		waitUntil(t, 30*time.Second, "both copies have the lease", func() bool {
			_, okA := a.st.leaseByMAC(netip.MustParsePrefix("10.99.0.0/16"), mac)
			_, okB := b.st.leaseByMAC(netip.MustParsePrefix("10.99.0.0/16"), mac)
			return okA && okB
		})
		reserved := record.Reservation{Name: "reserved-host", IP: netip.MustParseAddr("10.99.2.20"), MAC: "02:00:00:03:00:04",
			Subnet: record.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16")}}
		if err := a.st.addReservation(context.Background(), reserved); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "B has the reservation", func() bool {
			_, ok := b.st.reservationByMAC(reserved.Subnet.Prefix, reserved.MAC)
			return ok
		})
		original := leaseInEtcd(t, cli, ip)
		cluster.Members[1].Kill()
		cluster.Members[2].Kill()
		time.Sleep(1100 * time.Millisecond)
		start := time.Now()
		ack := renew(t, b, mac, ip)
		if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || addr4(ack.YourIPAddr) != ip {
			t.Fatalf("renewal without quorum: %v", ack)
		}
		t.Logf("renewal without quorum answered after %s (the first write waits out :etcd_timeout:)", time.Since(start).Round(time.Millisecond))
		checkCapped(t, ack, start, original.Ends)
		// Now B knows: the next renewal is answered at once, capped the same way.
		again := time.Now()
		if ack := renew(t, b, mac, ip); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("second renewal without quorum: %v", ack)
		} else {
			checkCapped(t, ack, again, original.Ends)
		}
		if n := b.st.shared.fromCopy.Load(); n != 2 {
			t.Fatalf("B counts %d renewals answered from its copy, want 2", n)
		}
		// A wrote nothing: it learns of the lost quorum from its copy's revision
		// poll (every 2 s, each waiting out the timeout), which may end after B's write.
		waitUntil(t, 30*time.Second, "both nodes find the cluster silent", func() bool {
			return !a.st.shared.writable() && !b.st.shared.writable()
		})
		for _, n := range nodes {
			if o := n.ask(t, request(t, dhcpv4.MessageTypeDiscover, "02:00:00:03:00:02")); o != nil {
				t.Fatalf("a new client got an OFFER of %s without quorum", o.YourIPAddr)
			}
		}
		if got, _ := segmentDORA(t, nodes, "02:00:00:03:00:02", rand.New(rand.NewSource(4))); got.IsValid() {
			t.Fatalf("a new client got %s without quorum", got)
		}
		// A reserved client needs no write: it is served.
		if got, _ := segmentDORA(t, nodes, reserved.MAC, rand.New(rand.NewSource(6))); got != reserved.IP {
			t.Fatalf("the reserved client got %v without quorum, want %s", got, reserved.IP)
		}
		err := a.st.addReservation(context.Background(), record.Reservation{Name: "h", IP: netip.MustParseAddr("10.99.2.11"),
			MAC: "02:00:00:03:00:03", Subnet: record.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16")}})
		if !errors.Is(err, etcdstate.ErrUnavailable) {
			t.Fatalf("reservation without quorum: %v", err)
		}
		cluster.Members[1].Restart(t)
		cluster.Members[2].Restart(t)
		cluster.WaitHealthy(30 * time.Second)
		waitUntil(t, 30*time.Second, "B writable again", func() bool { return b.st.shared.writable() })
		// Nothing was owed: etcd's record still covers what the client was told. It
		// may even be later than before: the renewal write that timed out could sit
		// in the surviving member's raft log and be committed once the others are
		// back (a timeout in etcd never means "not applied").
		back := leaseInEtcd(t, cli, ip)
		if back.MAC != mac || back.Ends < original.Ends {
			t.Fatalf("etcd holds %+v after quorum returned, want the lease ending at %d or later: nothing was owed", back, original.Ends)
		}
		if back.Ends != original.Ends {
			t.Logf("the renewal write that timed out was committed once quorum returned: ends %d (was %d)", back.Ends, original.Ends)
		}
		time.Sleep(1100 * time.Millisecond) // so the next renewal's expiry is a later second
		if ack := renew(t, b, mac, ip); ack == nil || ack.IPAddressLeaseTime(0) != 600*time.Second {
			t.Fatalf("renewal with quorum back: %v, want a full 600 s lease", ack)
		}
		if e := leaseInEtcd(t, cli, ip); e.Ends <= back.Ends {
			t.Fatalf("the renewal with quorum back did not move etcd's expiry: %+v", e)
		}
		waitUntil(t, 30*time.Second, "A writable again", func() bool {
			got, _ := segmentDORA(t, []*node{a}, "02:00:00:03:00:02", rand.New(rand.NewSource(5)))
			return got.IsValid()
		})
	})
}

// checkCapped fails unless ack's lease ends by etcdEnds (give or take the second
// the ACK's lease time is rounded to): a renewal without a write must not outlast
// the record another node reads. The lease counts from when the renewal was asked
// (the server's clock can only be later), not from this check, which a loaded
// machine may run seconds after.
func checkCapped(t *testing.T, ack *dhcpv4.DHCPv4, asked time.Time, etcdEnds int64) {
	t.Helper()
	lease := ack.IPAddressLeaseTime(0)
	if from := asked.Unix(); lease <= 0 || from+int64(lease/time.Second) > etcdEnds+1 {
		t.Fatalf("renewal without a write granted %s from %d, past the expiry etcd holds (%d)", lease, from, etcdEnds)
	}
	if t1 := ack.IPAddressRenewalTime(0); t1 != (lease / 2).Truncate(time.Second) {
		t.Fatalf("T1 %s for a %s lease", t1, lease)
	}
	t.Logf("renewal answered from the copy: %s lease, ends at etcd's expiry %d", lease, etcdEnds)
}

func waitUntil(t testing.TB, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
