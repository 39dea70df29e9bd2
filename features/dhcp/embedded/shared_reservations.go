package embedded

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// With :state_backend: etcd the cluster, not a node's watched copy, decides
// whether a reservation may exist. Two nodes whose copies both lack the other's
// brand-new reservation would otherwise both accept one IP for two MACs:
//
//   - the MAC is unique per subnet by the reservation key itself
//     (dhcp/reservation/<net>/<bits>/<mac>), written only if still at the
//     revision the decision saw (absent for a create);
//   - the IP is unique through an index key, dhcp/reservation-ip/<ip>, holding
//     the MACs reserved on it (more than one only through related_macs), written
//     in the same transaction at the revision the decision saw;
//   - a dynamic lease on an address the copy sees unreserved is written only if
//     that index key is still absent, so a reservation acknowledged on one node
//     keeps the address from every node's allocator from then on.

const reservationIPPrefix = sharedPrefix + "reservation-ip/"

func reservationIPKey(ip string) string { return reservationIPPrefix + ip }

func isIndexKey(key string) bool { return strings.HasPrefix(key, reservationIPPrefix) }

// stampIndex records the index revision and new value a reservation write was
// decided on, and whether a lease must find the address unreserved. The caller
// holds st.mu.
func (st *store) stampIndex(e *entry) {
	key := reservationIPKey(e.IP)
	switch e.Kind {
	case kindLease:
		e.guardIndex = st.revs[key].mod == 0
	case kindReserve, kindUnreserve:
		e.expectIndex = st.revs[key].mod
		e.indexValue = st.indexValue(e)
	}
}

// indexValue is what the IP's index key holds after e: the MACs reserved on the
// IP, sorted and comma-separated; nil when none is left (the key is deleted).
func (st *store) indexValue(e *entry) []byte {
	var macs []string
	if ip, err := netip.ParseAddr(e.IP); err == nil {
		if sub := st.subnetContaining(ip); sub != nil {
			for _, r := range sub.reservedByIP[ip] {
				if r.MAC != e.MAC {
					macs = append(macs, r.MAC)
				}
			}
		}
	}
	if e.Kind == kindReserve {
		macs = append(macs, e.MAC)
	}
	if len(macs) == 0 {
		return nil
	}
	slices.Sort(macs)
	return []byte(strings.Join(slices.Compact(macs), ","))
}

// reservationChanges are the two keys a reservation write changes together.
func reservationChanges(e *entry) []etcdstate.Change {
	res := etcdstate.Change{Key: entryKey(e), ExpectRev: e.expect}
	if e.Kind == kindReserve {
		res.Value = e.encode()
	}
	return []etcdstate.Change{res, {Key: reservationIPKey(e.IP), ExpectRev: e.expectIndex, Value: e.indexValue}}
}

// maxReservationFlights is how many reservation transactions may be at etcd at
// once. API writes that arrive while they are out wait and go together in the
// next: with one transaction per write, 64 concurrent clients cost etcd 64
// transactions (each a gRPC call, a raft proposal and an apply) where one does.
// A write arriving at an idle committer still goes at once.
const maxReservationFlights = 2

// launchReservations launches the API writes whose keys are not in flight, in
// transactions of up to etcdstate.MaxChanges keys (two per write), while fewer
// than maxReservationFlights are out (drain: all of them); it returns the writes
// left waiting, in order.
func (sh *sharedState) launchReservations(ctx context.Context, writes []sharedWrite, drain bool) (waiting []sharedWrite) {
	var batch []sharedWrite
	var keys []string
	taken := map[string]bool{}
	flush := func() {
		if len(batch) > 0 {
			sh.resFlights++
			sh.launch(ctx, &flight{writes: batch, keys: keys, reservation: true})
			batch, keys = nil, nil
		}
	}
	for _, w := range writes {
		k := []string{entryKey(w.e), reservationIPKey(w.e.IP)}
		if sh.busy[k[0]] || sh.busy[k[1]] || taken[k[0]] || taken[k[1]] ||
			(!drain && sh.resFlights >= maxReservationFlights) {
			waiting = append(waiting, w)
			continue
		}
		taken[k[0]], taken[k[1]] = true, true
		sh.busy[k[0]], sh.busy[k[1]] = true, true
		batch, keys = append(batch, w), append(keys, k...)
		if len(keys)+2 > etcdstate.MaxChanges {
			flush()
		}
	}
	flush()
	return waiting
}

// commitReservations writes a batch of API writes in one transaction (one raft
// entry for all). If a compare fails nothing is written, and each is written on
// its own to learn which lost (commitReservation decides again for each).
func (sh *sharedState) commitReservations(ctx context.Context, writes []sharedWrite, errs []error) {
	if len(writes) == 1 {
		errs[0] = sh.commitReservation(ctx, writes[0].e)
		return
	}
	var changes []etcdstate.Change
	for _, w := range writes {
		changes = append(changes, reservationChanges(w.e)...)
	}
	won, rev, err := sh.cli.ClaimAll(ctx, changes)
	if err != nil {
		for i, w := range writes {
			errs[i] = sh.unavailable(w.e, err)
		}
		return
	}
	if won {
		sh.commits.Add(uint64(len(writes)))
		sh.txns.Add(1)
		sh.noteWritten(changes, rev)
		return
	}
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sh.commitReservation(ctx, w.e)
		}()
	}
	wg.Wait()
}

// noteWritten records the revision of keys this node wrote (a delete too, so an
// older event never brings the key back).
func (sh *sharedState) noteWritten(changes []etcdstate.Change, rev int64) {
	sh.st.mu.Lock()
	defer sh.st.mu.Unlock()
	for _, ch := range changes {
		if ch.Value == nil {
			sh.st.revs[ch.Key] = keyRev{seen: max(rev, sh.st.revs[ch.Key].seen)}
		} else {
			sh.st.noteRev(ch.Key, rev)
		}
	}
}

// commitReservation writes a reservation or its removal and its index key in one
// transaction. A create that loses is a conflict (record.ErrConflict: the API
// answers 409 as for a duplicate it sees itself). A removal that loses is
// decided again on what the cluster holds now: gone already is done.
func (sh *sharedState) commitReservation(ctx context.Context, e *entry) error {
	key := entryKey(e)
	for attempt := 0; attempt < 3; attempt++ {
		changes := reservationChanges(e)
		won, rev, err := sh.cli.ClaimAll(ctx, changes)
		if err != nil {
			return sh.unavailable(e, err)
		}
		if !won {
			// A lost answer to an applied attempt looks like a lost compare: then
			// the keys hold exactly what this write put there.
			cur, curRev, err := sh.cli.Get(ctx, key)
			if err != nil {
				return sh.unavailable(e, err)
			}
			idx, idxRev, err := sh.cli.Get(ctx, reservationIPKey(e.IP))
			if err != nil {
				return sh.unavailable(e, err)
			}
			switch {
			case e.Kind == kindReserve && curRev != 0 && string(cur) == string(e.encode()):
				won, rev = true, curRev
			case e.Kind == kindUnreserve && curRev == 0:
				won = true // someone (or an earlier attempt) removed it already
			case e.Kind == kindUnreserve:
				// A related MAC changed the index meanwhile: remove ours from it.
				if ce, _, err := decodeEntry(cur); err != nil || ce.IP != e.IP {
					won = true // the MAC now holds another address: nothing of ours left
				} else {
					e.expect, e.expectIndex = curRev, idxRev
					e.indexValue = withoutMAC(idx, e.MAC)
					continue
				}
			}
			if !won {
				sh.lost.Add(1)
				if curRev != 0 {
					sh.st.applyShared([]etcdstate.Event{{Key: key, Value: cur, Revision: curRev}})
				}
				if idxRev != 0 {
					sh.st.applyShared([]etcdstate.Event{{Key: reservationIPKey(e.IP), Value: idx, Revision: idxRev}})
				}
				return fmt.Errorf("reservation of %s / %s: %w (%w)", e.IP, e.MAC, record.ErrConflict, errClaimLost)
			}
		}
		sh.commits.Add(1)
		sh.txns.Add(1)
		sh.noteWritten(changes, rev)
		return nil
	}
	return fmt.Errorf("removing the reservation of %s / %s: %w", e.IP, e.MAC, errClaimLost)
}

func withoutMAC(index []byte, mac string) []byte {
	var macs []string
	for _, m := range strings.Split(string(index), ",") {
		if m != "" && m != mac {
			macs = append(macs, m)
		}
	}
	if len(macs) == 0 {
		return nil
	}
	return []byte(strings.Join(macs, ","))
}

// leaseGuard is the compare that keeps a lease off an address reserved since the
// decision: the transaction holding it fails if the index key exists. Keep: a
// compare only, no operation for etcd to apply (it used to delete the absent key).
func leaseGuard(e *entry) (etcdstate.Change, bool) {
	if !guardsLease(e) {
		return etcdstate.Change{}, false
	}
	return etcdstate.Change{Key: reservationIPKey(e.IP), Keep: true}, true
}

// guardsLease: e is a lease written with leaseGuard's compare (two of a
// transaction's operations).
func guardsLease(e *entry) bool { return e.Kind == kindLease && e.guardIndex }

// commitGuardedLease claims a lease on the condition that its address is still
// unreserved in the cluster. It loses to a reservation (the address is the
// reserved client's) and to another node's lease of the address, except that
// the same client renewed through another node is written on the newer revision.
func (sh *sharedState) commitGuardedLease(ctx context.Context, e *entry) error {
	key := entryKey(e)
	guard, _ := leaseGuard(e)
	for attempt := 0; attempt < 2; attempt++ {
		won, rev, err := sh.cli.ClaimAll(ctx, []etcdstate.Change{{Key: key, ExpectRev: e.expect, Value: e.encode()}, guard})
		if err != nil {
			return sh.unavailable(e, err)
		}
		cur, curRev := e.encode(), rev
		if !won {
			idx, idxRev, err := sh.cli.Get(ctx, guard.Key)
			if err != nil {
				return sh.unavailable(e, err)
			}
			if idxRev != 0 {
				sh.lost.Add(1)
				sh.st.applyShared([]etcdstate.Event{{Key: guard.Key, Value: idx, Revision: idxRev}})
				sh.forget(e)
				return fmt.Errorf("%s of %s / %s: the address was reserved: %w", e.Kind, e.IP, e.MAC, errClaimLost)
			}
			if cur, curRev, err = sh.cli.Get(ctx, key); err != nil {
				return sh.unavailable(e, err)
			}
			won = curRev != 0 && string(cur) == string(e.encode()) // an earlier attempt was applied
		}
		if won {
			sh.commits.Add(1)
			sh.txns.Add(1)
			sh.st.mu.Lock()
			sh.st.noteWritten(e, curRev)
			sh.st.mu.Unlock()
			return nil
		}
		if attempt == 0 && curRev != 0 {
			if ce, _, err := decodeEntry(cur); err == nil && ce.MAC == e.MAC {
				e.expect = curRev
				continue
			}
		}
		sh.lost.Add(1)
		if curRev != 0 {
			sh.st.applyShared([]etcdstate.Event{{Key: key, Value: cur, Revision: curRev}})
		}
		return fmt.Errorf("%s of %s / %s: %w", e.Kind, e.IP, e.MAC, errClaimLost)
	}
	return fmt.Errorf("%s of %s / %s: %w", e.Kind, e.IP, e.MAC, errClaimLost)
}

// refreshReservations rereads (linearizably) the index key of ip and the
// reservation keys of mac and of the MACs the copy has on ip, and takes them
// into the copy. A key found absent counts as deleted at the revision read before
// the keys: no later than the truth, so a newer event from the watch still wins.
func (st *store) refreshReservations(ctx context.Context, p netip.Prefix, ip netip.Addr, mac string) error {
	sh := st.shared
	if sh == nil {
		return nil
	}
	keys := []string{reservationIPKey(ip.String()), reservationKey(p.String(), mac)}
	st.mu.Lock()
	if sub := st.subnetByPrefix(p); sub != nil {
		for _, r := range sub.reservedByIP[ip] {
			keys = append(keys, reservationKey(p.String(), r.MAC))
		}
	}
	st.mu.Unlock()
	before, err := sh.cli.Revision(ctx)
	if err != nil {
		return err
	}
	slices.Sort(keys)
	var events []etcdstate.Event
	for _, k := range slices.Compact(keys) {
		v, rev, err := sh.cli.Get(ctx, k)
		if err != nil {
			return err
		}
		if rev == 0 {
			events = append(events, etcdstate.Event{Key: k, Deleted: true, Revision: before})
		} else {
			events = append(events, etcdstate.Event{Key: k, Value: v, Revision: rev})
		}
	}
	st.applyShared(events)
	return nil
}
