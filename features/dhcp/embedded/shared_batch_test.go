package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// Concurrent API reservation writes share etcd transactions; a batch in which one
// compare fails writes nothing and each write is then decided on its own: the
// others succeed, the stale one is a conflict.
func TestReservationWritesBatched(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	prefix := "/sp-dhcp-resv-batch/"
	a := startNode(t, cluster, prefix, "10.99.0.1")
	cli := cluster.Connect(prefix)
	subnet := record.Subnet{Prefix: netip.MustParsePrefix("10.99.0.0/16")}
	ctx := context.Background()

	const n = 64
	before := a.st.shared.txns.Load()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := netip.AddrFrom4([4]byte{10, 99, 2, byte(i + 1)})
			errs[i] = a.st.addReservation(ctx, record.Reservation{Name: fmt.Sprintf("b%d", i), IP: ip, MAC: fmt.Sprintf("02:00:00:0c:00:%02x", i), Subnet: subnet})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	txns := a.st.shared.txns.Load() - before
	t.Logf("%d concurrent creates in %d etcd transactions", n, txns)
	if txns >= n {
		t.Errorf("%d creates took %d transactions: not batched", n, txns)
	}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 99, 2, byte(i + 1)}).String()
		if v, rev, err := cli.Get(ctx, reservationIPKey(ip)); err != nil || rev == 0 || string(v) != fmt.Sprintf("02:00:00:0c:00:%02x", i) {
			t.Fatalf("index of %s = %q (rev %d, %v)", ip, v, rev, err)
		}
	}

	// Two writes decided on the same copy; another node takes the second's MAC first.
	ok := &entry{Kind: kindReserve, IP: "10.99.3.1", MAC: "02:00:00:0d:00:01", Subnet: "10.99.0.0/16", Name: "ok"}
	stale := &entry{Kind: kindReserve, IP: "10.99.3.2", MAC: "02:00:00:0d:00:02", Subnet: "10.99.0.0/16", Name: "stale"}
	a.st.mu.Lock()
	a.st.stamp(ok)
	a.st.stamp(stale)
	a.st.mu.Unlock()
	other := entry{Kind: kindReserve, IP: "10.99.3.9", MAC: stale.MAC, Subnet: stale.Subnet, Name: "other"}
	if res, err := cli.Claim(ctx, entryKey(stale), 0, other.encode()); err != nil || !res.Won {
		t.Fatalf("the other node's write: %+v, %v", res, err)
	}
	results := make([]error, 2)
	a.st.shared.commitReservations(ctx, []sharedWrite{{e: ok}, {e: stale}}, results)
	if results[0] != nil {
		t.Errorf("the write whose keys were unchanged: %v", results[0])
	}
	if !errors.Is(results[1], record.ErrConflict) {
		t.Errorf("the stale write: %v, want a conflict", results[1])
	}
	if v, rev, _ := cli.Get(ctx, reservationIPKey("10.99.3.1")); rev == 0 || string(v) != ok.MAC {
		t.Errorf("index of the written reservation = %q (rev %d)", v, rev)
	}
	if _, rev, _ := cli.Get(ctx, reservationIPKey("10.99.3.2")); rev != 0 {
		t.Error("the stale write's index key was written")
	}
}
