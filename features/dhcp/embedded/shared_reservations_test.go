package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// A reservation acknowledged through one node keeps its address from the other
// node's allocator even before that node's copy has seen it: the lease claim
// requires the address's index key to be absent in the cluster.
func TestReservationsDecidedByTheCluster(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	prefix := "/sp-dhcp-resv-lease/"
	a := startNode(t, cluster, prefix, "10.99.0.1")
	b := startNode(t, cluster, prefix, "10.99.0.2")
	cli := cluster.Connect(prefix)
	subnet := record.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16")}

	t.Run("a lease decided before the reservation is not written after it", func(t *testing.T) {
		ip := netip.MustParseAddr("10.99.1.77")
		lease := &entry{Kind: kindLease, IP: ip.String(), MAC: "02:00:00:05:00:01", Starts: nowUnix(), Ends: nowUnix() + 600}
		b.st.mu.Lock()
		b.st.stamp(lease) // B decides from a copy without the reservation
		b.st.mu.Unlock()
		if err := a.st.addReservation(context.Background(), record.Reservation{Name: "r", IP: ip, MAC: "02:00:00:05:00:02", Subnet: subnet}); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		b.st.commit(lease, func(err error) { errc <- err })
		if err := <-errc; !errors.Is(err, errClaimLost) {
			t.Fatalf("B's lease of the reserved %s: %v, want it lost", ip, err)
		}
		if _, rev, err := cli.Get(context.Background(), leaseKey(ip.String())); err != nil || rev != 0 {
			t.Fatalf("the lost lease is in etcd (rev %d, %v)", rev, err)
		}
	})

	t.Run("20 rounds of a reservation racing another node's DORA for its address", func(t *testing.T) {
		both := 0
		for round := range 20 {
			ip := netip.MustParseAddr(fmt.Sprintf("10.99.1.%d", 100+round))
			client, reserved := fmt.Sprintf("02:00:00:06:%02x:01", round), fmt.Sprintf("02:00:00:06:%02x:02", round)
			var wg sync.WaitGroup
			var resErr error
			var acked bool
			wg.Add(2)
			go func() {
				defer wg.Done()
				resErr = a.st.addReservation(context.Background(), record.Reservation{Name: "r", IP: ip, MAC: reserved, Subnet: subnet})
			}()
			go func() {
				defer wg.Done()
				o := b.ask(t, request(t, dhcpv4.MessageTypeDiscover, client, withOpt(dhcpv4.OptRequestedIPAddress(ip.AsSlice()))))
				if o == nil || addr4(o.YourIPAddr) != ip {
					return
				}
				r := b.ask(t, request(t, dhcpv4.MessageTypeRequest, client,
					withOpt(dhcpv4.OptServerIdentifier(o.ServerIdentifier())), withOpt(dhcpv4.OptRequestedIPAddress(ip.AsSlice()))))
				acked = r != nil && r.MessageType() == dhcpv4.MessageTypeAck
			}()
			wg.Wait()
			if resErr != nil {
				t.Fatalf("round %d: reservation: %v", round, resErr)
			}
			if !acked {
				continue
			}
			// Both succeeded: allowed only if the lease was in etcd before the
			// reservation (as a reservation over a live lease on one node).
			both++
			_, leaseRev, err1 := cli.Get(context.Background(), leaseKey(ip.String()))
			_, indexRev, err2 := cli.Get(context.Background(), reservationIPKey(ip.String()))
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if leaseRev == 0 || leaseRev >= indexRev {
				t.Fatalf("round %d: %s ACKed to %s at revision %d, reserved for %s at %d", round, ip, client, leaseRev, reserved, indexRev)
			}
		}
		t.Logf("rounds where the lease came first and both succeeded: %d of 20", both)
	})

	t.Run("a copy that missed a delete is corrected from the cluster before a 409", func(t *testing.T) {
		ip := netip.MustParseAddr("10.99.2.77")
		gone := &entry{Kind: kindReserve, IP: ip.String(), MAC: "02:00:00:07:00:01", Subnet: subnet.Prefix.String(), Name: "gone"}
		// B's copy holds a reservation the cluster does not (as if its watch had
		// not yet brought another node's delete).
		b.st.applyShared([]etcdstate.Event{{Key: entryKey(gone), Value: gone.encode(), Revision: 1}})
		if got := b.st.reservationsByIP(subnet.Prefix, ip); len(got) != 1 {
			t.Fatalf("the stale reservation is not in B's copy: %v", got)
		}
		if err := b.st.refreshReservations(context.Background(), subnet.Prefix, ip, "02:00:00:07:00:02"); err != nil {
			t.Fatal(err)
		}
		if got := b.st.reservationsByIP(subnet.Prefix, ip); len(got) != 0 {
			t.Fatalf("after the refresh B still has %v", got)
		}
		kept := record.Reservation{Name: "kept", IP: ip, MAC: "02:00:00:07:00:03", Subnet: subnet}
		if err := a.st.addReservation(context.Background(), kept); err != nil {
			t.Fatal(err)
		}
		if err := b.st.refreshReservations(context.Background(), subnet.Prefix, ip, kept.MAC); err != nil {
			t.Fatal(err)
		}
		if got, ok := b.st.reservationByMAC(subnet.Prefix, kept.MAC); !ok || got.IP != ip {
			t.Fatalf("after the refresh B lacks A's reservation: %v %v", got, ok)
		}
	})
}
