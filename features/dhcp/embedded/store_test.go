package embedded

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

var testPrefix = netip.MustParsePrefix("10.99.0.0/16")

func storeConfig(t *testing.T, dir string) *config {
	t.Helper()
	return testConfig(t, fmt.Sprintf(":state_dir: %s\n%s", dir, engineYAML))
}

// openRunning opens a store and runs its committer until the test ends (or stop,
// which also closes the store).
func openRunning(t *testing.T, dir string) (*store, func()) {
	t.Helper()
	st, err := openStore(storeConfig(t, dir), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	stopCommitter := runCommitter(st)
	stopped := false
	shutdown := func() {
		if !stopped {
			stopped = true
			stopCommitter()
			st.close()
		}
	}
	t.Cleanup(shutdown)
	return st, shutdown
}

// runCommitter runs st's committer until the returned function is called.
func runCommitter(st *store) func() {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.journal.run(ctx, st.compact, func() {})
	}()
	return func() {
		stop()
		<-done
	}
}

// lease grants a durable lease the way the server does and waits for it.
func lease(t *testing.T, st *store, ip, mac string) {
	t.Helper()
	done := make(chan error, 1)
	st.mu.Lock()
	sub := st.subnetByPrefix(testPrefix)
	b := st.bind(sub, netip.MustParseAddr(ip), mac, stateActive, nowUnix(), nowUnix()+600, "host-"+ip)
	st.journal.append(bindingEntry(b).encode(), func(err error) { done <- err })
	st.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func reservation(ip, mac string) record.Reservation {
	return record.Reservation{Name: "r-" + ip, IP: netip.MustParseAddr(ip), MAC: mac,
		Subnet: record.Subnet{Prefix: testPrefix}, Options: map[string]string{"hostname": "r-" + ip, "filename": "pxelinux.0"}}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	st, stop := openRunning(t, dir)
	lease(t, st, "10.99.1.1", "02:00:00:00:00:01")
	lease(t, st, "10.99.1.2", "02:00:00:00:00:02")
	lease(t, st, "10.99.1.1", "02:00:00:00:00:03") // the address moved to another client
	ctx := context.Background()
	if err := st.addReservation(ctx, reservation("10.99.9.1", "02:00:00:00:01:01")); err != nil {
		t.Fatal(err)
	}
	if err := st.addReservation(ctx, reservation("10.99.9.2", "02:00:00:00:01:02")); err != nil {
		t.Fatal(err)
	}
	if err := st.deleteReservation(ctx, reservation("10.99.9.2", "02:00:00:00:01:02")); err != nil {
		t.Fatal(err)
	}
	stop()

	st, _ = openRunning(t, dir)
	if l, ok := st.leaseByIP(testPrefix, netip.MustParseAddr("10.99.1.1")); !ok || l.MAC != "02:00:00:00:00:03" || l.State != record.LeaseActive || l.Hostname != "host-10.99.1.1" {
		t.Fatalf("10.99.1.1 after restart: %+v %v", l, ok)
	}
	if l, ok := st.leaseByMAC(testPrefix, "02:00:00:00:00:02"); !ok || l.IP != netip.MustParseAddr("10.99.1.2") {
		t.Fatalf("lease of ...:02 after restart: %+v %v", l, ok)
	}
	if _, ok := st.leaseByMAC(testPrefix, "02:00:00:00:00:01"); ok {
		t.Fatal("the client that lost 10.99.1.1 still has a lease")
	}
	if r, ok := st.reservationByMAC(testPrefix, "02:00:00:00:01:01"); !ok || !r.Equal(reservation("10.99.9.1", "02:00:00:00:01:01")) {
		t.Fatalf("reservation after restart: %+v %v", r, ok)
	}
	if _, ok := st.reservationByMAC(testPrefix, "02:00:00:00:01:02"); ok {
		t.Fatal("a deleted reservation came back")
	}
}

func TestReplayDropsTornTailAndSkipsBadLines(t *testing.T) {
	dir := t.TempDir()
	good := `{"k":"lease","ip":"10.99.1.1","mac":"02:00:00:00:00:01","starts":1,"ends":9999999999}`
	other := `{"k":"lease","ip":"10.99.1.2","mac":"02:00:00:00:00:02","starts":1,"ends":9999999999}`
	content := good + "\n" + "garbage in the middle\n" + `{"k":"lease","ip":"172.16.0.1","mac":"02:00:00:00:00:09"}` + "\n" + other + "\n" + `{"k":"lease","ip":"10.99.1.3","ma`
	if err := os.WriteFile(filepath.Join(dir, journalName), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	st, stop := openRunning(t, dir)
	for _, ip := range []string{"10.99.1.1", "10.99.1.2"} {
		if _, ok := st.leaseByIP(testPrefix, netip.MustParseAddr(ip)); !ok {
			t.Fatalf("lease of %s lost", ip)
		}
	}
	if _, ok := st.leaseByIP(testPrefix, netip.MustParseAddr("10.99.1.3")); ok {
		t.Fatal("the torn last line was applied")
	}
	stop()
	data, _ := os.ReadFile(filepath.Join(dir, journalName))
	if strings.Contains(string(data), "garbage") || strings.Contains(string(data), "10.99.1.3") || len(strings.Split(strings.TrimSpace(string(data)), "\n")) != 2 {
		t.Fatalf("journal after start is not the compacted state:\n%s", data)
	}
}

func TestStateDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	openRunning(t, dir)
	if _, err := openStore(storeConfig(t, dir), quietLog()); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second open: %v, want in use", err)
	}
}

func TestCompactionKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(storeConfig(t, dir), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	stopCommitter := runCommitter(st)
	for i := 0; i < 50; i++ {
		lease(t, st, "10.99.1.1", fmt.Sprintf("02:00:00:00:00:%02x", i)) // 50 lines, one live lease
	}
	if err := st.addReservation(context.Background(), reservation("10.99.9.1", "02:00:00:00:01:01")); err != nil {
		t.Fatal(err)
	}
	// A change queued but not written yet is part of the snapshot. The committer is
	// stopped first: compaction runs on its goroutine, never beside it.
	stopCommitter()
	done := make(chan error, 1)
	st.mu.Lock()
	b := st.bind(st.subnetByPrefix(testPrefix), netip.MustParseAddr("10.99.1.2"), "02:00:00:00:02:02", stateActive, 1, nowUnix()+600, "")
	st.journal.append(bindingEntry(b).encode(), func(err error) { done <- err })
	st.mu.Unlock()
	st.compact()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, journalName))
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Fatalf("compacted journal has %d lines, want 3 (two leases and a reservation):\n%s", n, data)
	}
	st.close()
	st, _ = openRunning(t, dir)
	if l, ok := st.leaseByIP(testPrefix, netip.MustParseAddr("10.99.1.1")); !ok || l.MAC != "02:00:00:00:00:31" {
		t.Fatalf("after compaction 10.99.1.1 = %+v", l)
	}
	if _, ok := st.leaseByIP(testPrefix, netip.MustParseAddr("10.99.1.2")); !ok {
		t.Fatal("the queued lease was lost by compaction")
	}
}

func TestFailedWriteRollsBackReservation(t *testing.T) {
	st, _ := openRunning(t, t.TempDir())
	st.journal.file.Close() // every write now fails
	err := st.addReservation(context.Background(), reservation("10.99.9.1", "02:00:00:00:01:01"))
	if err == nil || !strings.Contains(err.Error(), "storing reservation 10.99.9.1/02:00:00:00:01:01") {
		t.Fatalf("add with a broken journal: %v", err)
	}
	if _, ok := st.reservationByMAC(testPrefix, "02:00:00:00:01:01"); ok {
		t.Fatal("a reservation that is not durable is served")
	}
}
