package tftp

import (
	"path/filepath"
	"testing"
)

// While a request for a MAC holds its lock (taken here through the feature, as a
// running request would), writes and deletes for that MAC, in any case, answer 409;
// other MACs and reads are not held up, and releasing the lock lets the MAC in again.
func TestHostLockRefusesConcurrentUpdates(t *testing.T) {
	p, f, root := startAPI(t, "")
	unlock, ok := f.hosts.tryLock("aa:bb:cc:dd:ee:ff")
	if !ok {
		t.Fatal("lock not free at start")
	}
	const busy = "TFTP: Host configuration is already being updated for aa:bb:cc:dd:ee:ff"
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/AA:BB:CC:DD:EE:FF", form("pxeconfig", "x")), 409, busy)
	expect(t, p.Do(t, "POST", "/tftp/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x")), 409, busy)
	expect(t, p.Do(t, "DELETE", "/tftp/PXEGrub2/aa:bb:cc:dd:ee:ff", nil), 409, busy)
	expect(t, p.Do(t, "DELETE", "/tftp/aa:bb:cc:dd:ee:ff", nil), 409, busy)
	// Refusals of the request itself come first, as in the Ruby proxy.
	expect(t, p.Do(t, "POST", "/tftp/nope/aa:bb:cc:dd:ee:ff", form("pxeconfig", "x")), 403, "Unrecognized pxeboot config type: nope")
	if got := files(t, root); len(got) != 0 {
		t.Fatalf("refused requests wrote %v", got)
	}
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/aa:bb:cc:dd:ee:00", form("pxeconfig", "other host")), 200, "")
	expect(t, p.Do(t, "GET", "/tftp/PXELinux/aa:bb:cc:dd:ee:00", nil), 200, "other host")

	unlock()
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/aa:bb:cc:dd:ee:ff", form("pxeconfig", "mine")), 200, "")
	if got := readFile(t, filepath.Join(root, "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff")); got != "mine" {
		t.Fatalf("config %q", got)
	}
	// Each request released its lock, whatever its outcome.
	expect(t, p.Do(t, "POST", "/tftp/PXELinux/aa:bb:cc:dd:ee:ff", nil), 400, "TFTP: Failed to create pxe config file: Invalid parameters received")
	expect(t, p.Do(t, "DELETE", "/tftp/PXELinux/aa:bb:cc:dd:ee:ff", nil), 200, "")
	if _, ok := f.hosts.tryLock("AA:BB:CC:DD:EE:FF"); !ok {
		t.Fatal("a finished request kept the lock")
	}
}

func TestHostLocksAreTryLocks(t *testing.T) {
	var l hostLocks
	unlockA, ok := l.tryLock("aa:bb:cc:dd:ee:ff")
	if !ok {
		t.Fatal("first lock refused")
	}
	if _, ok := l.tryLock("AA:BB:CC:DD:EE:FF"); ok {
		t.Fatal("same MAC in upper case locked twice")
	}
	unlockB, ok := l.tryLock("aa:bb:cc:dd:ee:00")
	if !ok {
		t.Fatal("another MAC refused")
	}
	unlockA()
	if _, ok := l.tryLock("aa:bb:cc:dd:ee:ff"); !ok {
		t.Fatal("released lock refused")
	}
	unlockB()
	if len(l.busy) != 1 {
		t.Fatalf("busy %v", l.busy)
	}
}
