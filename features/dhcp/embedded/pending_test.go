package embedded

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A reservation write queued in the journal but not yet durable ("pending"): no
// reader and no DHCP reply may act on it, compaction must keep it, and whatever
// ends it (commit, failure, shutdown) must leave memory and disk agreeing.

// openIdle opens a store whose committer does not run: writes stay queued until
// the test flushes or compacts.
func openIdle(t *testing.T, dir string) *store {
	t.Helper()
	st, err := openStore(storeConfig(t, dir), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	return st
}

// inBackground runs write and returns its result channel once the write is
// queued (pending in the subnet).
func inBackground(t *testing.T, st *store, write func(context.Context) error) <-chan error {
	t.Helper()
	// A cancelled context: once queued, the write must finish anyway.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	result := make(chan error, 1)
	go func() { result <- write(ctx) }()
	sub := st.subnetByPrefix(testPrefix)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		st.mu.Lock()
		n := len(sub.pendingAdds) + len(sub.pendingDeletes)
		st.mu.Unlock()
		if n > 0 {
			return result
		}
	}
	t.Fatal("the write never got queued")
	return nil
}

func TestPendingAddIsInvisibleUntilDurable(t *testing.T) {
	dir := t.TempDir()
	st := openIdle(t, dir)
	r := reservation("10.99.9.1", "02:00:00:00:01:01")
	result := inBackground(t, st, func(ctx context.Context) error { return st.addReservation(ctx, r) })

	if _, ok := st.reservationByMAC(testPrefix, r.MAC); ok {
		t.Fatal("a pending reservation is visible by MAC")
	}
	if got := st.reservationsByIP(testPrefix, r.IP); len(got) != 0 {
		t.Fatalf("a pending reservation is visible by IP: %v", got)
	}
	if got := st.reservations(testPrefix); len(got) != 0 {
		t.Fatalf("a pending reservation is listed: %v", got)
	}
	st.mu.Lock()
	ip, res, _ := st.chooseOffer(st.subnetByPrefix(testPrefix), r.MAC, netip.Addr{}, nowUnix())
	st.mu.Unlock()
	if res != nil || ip == r.IP {
		t.Fatalf("a DHCP client was offered a pending reservation: %s %v", ip, res)
	}
	if !st.inUse(testPrefix, r.IP) {
		t.Fatal("unused_ip may suggest the address a create is storing")
	}

	// A compaction now stands in for the queued line: the snapshot must hold it.
	st.compact()
	if err := <-result; err != nil {
		t.Fatalf("add committed by compaction: %v", err)
	}
	if got, ok := st.reservationByMAC(testPrefix, r.MAC); !ok || got.IP != r.IP {
		t.Fatalf("after its commit the reservation is %+v %v", got, ok)
	}
	st.close()
	st = openIdle(t, dir)
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); !ok {
		t.Fatal("the reservation committed by compaction is gone after restart")
	}
}

func TestPendingDeleteStaysServedUntilDurable(t *testing.T) {
	dir := t.TempDir()
	st, stop := openRunning(t, dir)
	r := reservation("10.99.9.1", "02:00:00:00:01:01")
	if err := st.addReservation(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	stop()
	st = openIdle(t, dir)
	result := inBackground(t, st, func(ctx context.Context) error { return st.deleteReservation(ctx, r) })
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); !ok {
		t.Fatal("a reservation whose delete is not durable yet is no longer served")
	}
	st.compact()
	if err := <-result; err != nil {
		t.Fatalf("delete committed by compaction: %v", err)
	}
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); ok {
		t.Fatal("the deleted reservation is still served")
	}
	data, _ := os.ReadFile(filepath.Join(dir, journalName))
	if strings.Contains(string(data), r.MAC) {
		t.Fatalf("the compacted journal still holds the deleted reservation:\n%s", data)
	}
}

func TestFailedDeleteKeepsReservation(t *testing.T) {
	st, _ := openRunning(t, t.TempDir())
	r := reservation("10.99.9.1", "02:00:00:00:01:01")
	if err := st.addReservation(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	st.journal.file.Close() // every write now fails
	if err := st.deleteReservation(context.Background(), r); err == nil {
		t.Fatal("a delete with a broken journal succeeded")
	}
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); !ok {
		t.Fatal("a delete that is not durable took the reservation away")
	}
}

func TestWritesQueuedAtShutdownFail(t *testing.T) {
	dir := t.TempDir()
	st := openIdle(t, dir)
	r := reservation("10.99.9.1", "02:00:00:00:01:01")
	result := inBackground(t, st, func(ctx context.Context) error { return st.addReservation(ctx, r) })
	st.close() // the committer is gone: nobody will write the line
	if err := <-result; !errors.Is(err, errJournalClosed) {
		t.Fatalf("queued add at close: %v, want %v", err, errJournalClosed)
	}
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); ok {
		t.Fatal("a write that failed at shutdown is served")
	}
	if err := st.addReservation(context.Background(), r); !errors.Is(err, errJournalClosed) {
		t.Fatalf("add after close: %v, want %v", err, errJournalClosed)
	}
	st = openIdle(t, dir)
	if _, ok := st.reservationByMAC(testPrefix, r.MAC); ok {
		t.Fatal("a write that failed at shutdown is back after restart")
	}
}
