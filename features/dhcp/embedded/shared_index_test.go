package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// Reservations written before the reservation-ip index existed get their index
// key from the first nodes that start, two of them at once without conflict, so
// the cluster's IP uniqueness covers them; an index is never made from a
// reservation deleted meanwhile.
func TestIndexAddedForOldReservations(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	prefix := "/sp-dhcp-index-backfill/"
	cli := cluster.Connect(prefix)
	ctx := context.Background()
	putOld := func(ip, mac string) {
		t.Helper()
		e := entry{Kind: kindReserve, IP: ip, MAC: mac, Subnet: "10.99.0.0/16", Name: "old-" + strings.ReplaceAll(mac, ":", "")}
		if _, err := cli.Raw().Put(ctx, prefix+entryKey(&e), string(e.encode())); err != nil {
			t.Fatal(err)
		}
	}
	const n = 150 // more than one transaction's worth
	want := map[string]string{}
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 99, byte(2 + i/200), byte(1 + i%200)}).String()
		mac := fmt.Sprintf("02:00:00:09:%02x:%02x", i/256, i%256)
		putOld(ip, mac)
		want[reservationIPKey(ip)] = mac
	}
	putOld("10.99.2.1", "02:00:00:09:ff:ff") // a related MAC on the first address
	want[reservationIPKey("10.99.2.1")] = "02:00:00:09:00:00,02:00:00:09:ff:ff"

	// Two nodes start at once: both find every index key missing.
	stores := make([]*store, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := testConfig(t, sharedYAML)
			cfg.state = cluster.Config(prefix)
			stores[i], errs[i] = openStore(cfg, quietLog())
		}()
	}
	wg.Wait()
	for i, st := range stores {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { st.close() })
	}
	resp, err := cli.Raw().Get(ctx, prefix+reservationIPPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	if len(got) != len(want) {
		t.Fatalf("%d index keys after both nodes started, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for i, st := range stores {
		if st.shared.indexPending.Load() {
			t.Errorf("node %d still has index keys to add", i)
		}
	}

	// The cluster now keeps an old reservation's address from a node whose copy
	// lacks the reservation: its lease claim requires the index key to be absent.
	lease := &entry{Kind: kindLease, IP: "10.99.2.7", MAC: "02:00:00:0a:00:01", Starts: nowUnix(), Ends: nowUnix() + 600, guardIndex: true}
	if err := stores[1].shared.commitGuardedLease(ctx, lease); !errors.Is(err, errClaimLost) {
		t.Fatalf("a lease of an old reservation's address: %v, want it lost", err)
	}

	// An index decided on a reservation that is deleted before it is written is
	// not written: its transaction requires the reservation at the revision seen.
	a := stores[0]
	putOld("10.99.4.1", "02:00:00:0b:00:01")
	m := waitMissing(t, a, reservationIPKey("10.99.4.1"))
	if _, err := cli.Raw().Delete(ctx, prefix+reservationKey("10.99.0.0/16", "02:00:00:0b:00:01")); err != nil {
		t.Fatal(err)
	}
	if won, _, err := a.shared.cli.ClaimAll(ctx, m.changes()); err != nil || won {
		t.Fatalf("index of a deleted reservation written: won %v, %v", won, err)
	}
	if _, rev, _ := cli.Get(ctx, m.key); rev != 0 {
		t.Fatal("index key of a deleted reservation exists")
	}
	// A reservation that arrives later is indexed on the next round.
	putOld("10.99.4.2", "02:00:00:0b:00:02")
	waitMissing(t, a, reservationIPKey("10.99.4.2"))
	a.shared.ensureIndex(ctx)
	if v, rev, _ := cli.Get(ctx, reservationIPKey("10.99.4.2")); rev == 0 || string(v) != "02:00:00:0b:00:02" {
		t.Fatalf("late old reservation's index = %q (rev %d)", v, rev)
	}
	if _, rev, _ := cli.Get(ctx, m.key); rev != 0 {
		t.Fatal("the deleted reservation got an index key after all")
	}
}

// waitMissing waits until st's copy has the reservations of key's address and
// lists it as missing its index.
func waitMissing(t *testing.T, st *store, key string) missingIndex {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range st.missingIndexes() {
			if m.key == key {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never missing in the node's copy", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
