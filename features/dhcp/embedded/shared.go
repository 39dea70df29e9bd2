package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// sharedState is :state_backend: etcd. Leases and reservations live under the
// etcd prefix (dhcp/lease/<ip>, dhcp/reservation/<network>/<bits>/<mac>, each the
// same JSON as a journal line); every node keeps them in its store (the watched
// copy) and decides from there. A decision becomes a write that succeeds only if
// the key is still at the revision the decision saw (etcdstate.Claim), so of two
// nodes handing out one address, one wins and the other sends no ACK. The reply
// waits for the write, as it waits for the journal's fdatasync in journal mode.
type sharedState struct {
	st     *store
	cli    *etcdstate.Client
	mirror *etcdstate.Mirror
	log    *logrus.Entry

	mu      sync.Mutex
	queue   []sharedWrite
	retries []*entry // renewals acknowledged without quorum, written when it returns
	closed  bool
	kick    chan struct{}

	// down: the last write found no quorum. Until the watch is back, new writes
	// fail at once instead of each waiting out the timeout.
	down    atomic.Bool
	downAt  atomic.Int64  // unix nanoseconds when down was last set
	commits atomic.Uint64 // entries written
	txns    atomic.Uint64 // etcd transactions that wrote them
	lost    atomic.Uint64 // claims another node won first
}

type sharedWrite struct {
	e    *entry
	done func(error)
	// settled: decided without etcd (no quorum), with outcome as the answer.
	settled bool
	outcome error
}

// keyRev is what the store knows of one etcd key: its mod revision (0: absent)
// and the newest revision seen for it (a delete has one too), so an older event
// arriving late never undoes a newer one.
type keyRev struct{ mod, seen int64 }

const sharedPrefix = "dhcp/"

var (
	errClaimLost   = errors.New("another proxy changed it first")
	errSharedClose = errors.New("the DHCP state backend is closed (the server is stopping)")
)

// openShared connects, loads the prefix into a fresh store and keeps it watched.
func openShared(cfg *config, log *logrus.Entry) (*store, error) {
	cli, err := etcdstate.Open(context.Background(), cfg.state)
	if err != nil {
		return nil, fmt.Errorf("dhcp_embedded state in etcd: %w", err)
	}
	st := newStore(cfg, log)
	st.revs = map[string]keyRev{}
	sh := &sharedState{st: st, cli: cli, log: log, kick: make(chan struct{}, 1)}
	st.shared = sh
	sh.mirror = cli.NewMirror(sharedPrefix, st.applyShared)
	if err := sh.mirror.Start(context.Background()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("dhcp_embedded state in etcd: %w", err)
	}
	st.startCursorsApart()
	return st, nil
}

func leaseKey(ip string) string { return sharedPrefix + "lease/" + ip }

// reservationKey: subnet is a prefix ("10.99.0.0/16"), so the key is
// dhcp/reservation/10.99.0.0/16/<mac>.
func reservationKey(subnet string, mac string) string {
	return sharedPrefix + "reservation/" + subnet + "/" + mac
}

// entryKey is where an entry lives in etcd.
func entryKey(e *entry) string {
	switch e.Kind {
	case kindReserve, kindUnreserve:
		return reservationKey(e.Subnet, e.MAC)
	default:
		return leaseKey(e.IP)
	}
}

// stamp records on e the revision its decision was made on. The caller holds st.mu.
func (st *store) stamp(e *entry) {
	if st.revs != nil {
		e.expect = st.revs[entryKey(e)].mod
		st.stampIndex(e)
	}
}

// noteRev records a revision this node wrote. The caller holds st.mu.
func (st *store) noteRev(key string, mod int64) {
	kr := st.revs[key]
	if mod > kr.seen {
		st.revs[key] = keyRev{mod: mod, seen: mod}
	}
}

// applyShared takes changes from the watch (other nodes' writes, and our own
// coming back) into the store.
func (st *store) applyShared(events []etcdstate.Event) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, ev := range events {
		kr := st.revs[ev.Key]
		if ev.Revision <= kr.seen {
			continue // already applied (our own write, or a resync's repeat)
		}
		if ev.Deleted {
			st.revs[ev.Key] = keyRev{seen: ev.Revision}
			st.applySharedDelete(ev.Key)
			continue
		}
		st.revs[ev.Key] = keyRev{mod: ev.Revision, seen: ev.Revision}
		if isIndexKey(ev.Key) {
			continue // only its revision matters here; the reservations say the rest
		}
		if err := st.applyLine(ev.Value); err != nil {
			st.log.Warnf("etcd key %s skipped: %v", ev.Key, err)
		}
	}
}

// applySharedDelete: reservations are deleted through the API; a lease key is
// only deleted by hand (etcdctl), which frees the address.
func (st *store) applySharedDelete(key string) {
	rest, ok := strings.CutPrefix(key, sharedPrefix+"reservation/")
	if ok {
		parts := strings.Split(rest, "/")
		if len(parts) != 3 {
			return
		}
		bits, _ := strconv.Atoi(parts[1])
		addr, err := netip.ParseAddr(parts[0])
		if err != nil {
			return
		}
		if sub := st.subnetByPrefix(netip.PrefixFrom(addr, bits)); sub != nil {
			if r := sub.reservedByMAC[parts[2]]; r != nil {
				st.dropReservation(sub, r)
			}
		}
		return
	}
	ipText, ok := strings.CutPrefix(key, sharedPrefix+"lease/")
	ip, err := netip.ParseAddr(ipText)
	if !ok || err != nil {
		return
	}
	if sub := st.subnetContaining(ip); sub != nil {
		if b := sub.byIP[ip]; b != nil {
			delete(sub.byIP, ip)
			if sub.byMAC[b.mac] == b {
				delete(sub.byMAC, b.mac)
			}
		}
	}
}

// startCursorsApart starts each subnet's pool cursor at a random place, so two
// nodes answering the same DISCOVERs offer different addresses and seldom race
// for one (a lost race costs that client a retransmission, never a duplicate).
func (st *store) startCursorsApart() {
	for _, sub := range st.subnets {
		if sub.Range == nil {
			continue
		}
		first, last := record.ToUint32(sub.Range.First), record.ToUint32(sub.Range.Last)
		sub.cursor = first + uint32(time.Now().UnixNano()%int64(last-first+1))
	}
}

// write queues e for the committer; done runs once etcd holds it (or it failed).
// Without quorum a renewal of the client's own lease is acknowledged from the
// local copy and written later; anything else fails at once. Either way done runs
// on the committer's turn, whose end sends the ACKs its callbacks queued.
func (sh *sharedState) write(e *entry, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	w := sharedWrite{e: e, done: done}
	if !sh.writable() {
		w.settled = true
		if e.renewal {
			sh.addRetry(e)
		} else {
			w.outcome = fmt.Errorf("%w: the last write or read found no quorum; waiting for the cluster to answer again", etcdstate.ErrUnavailable)
		}
	}
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		done(errSharedClose)
		return
	}
	sh.queue = append(sh.queue, w)
	sh.mu.Unlock()
	select {
	case sh.kick <- struct{}{}:
	default:
	}
}

func (sh *sharedState) markDown() {
	sh.downAt.Store(time.Now().UnixNano())
	sh.down.Store(true)
}

// writable: the last write reached etcd and the cluster answered the last read
// (the mirror asks every 2 s), so a write is worth trying.
func (sh *sharedState) writable() bool { return !sh.down.Load() && sh.mirror.Reachable() }

// offersNewLeases: without quorum a DISCOVER is answered only with the client's
// own live lease (or its reservation, which needs no write): an offer the REQUEST
// could not honour would only keep the client from a node that can. The caller
// holds st.mu.
func (st *store) offersNewLeases(sub *subnetState, ip netip.Addr, mac string, now int64) bool {
	if st.shared == nil || st.shared.writable() {
		return true
	}
	b := sub.byIP[ip]
	return b != nil && b.mac == mac && b.state == stateActive && b.holds(now)
}

func (sh *sharedState) addRetry(e *entry) {
	sh.mu.Lock()
	sh.retries = append(sh.retries, e)
	sh.mu.Unlock()
}

// run is the committer: it writes what is queued (concurrently, one key's writes
// in order), tells the writers, then sends the ACKs (afterTurn). Once a second it
// checks whether a lost quorum is back and writes the renewals it owes.
func (sh *sharedState) run(ctx context.Context, afterTurn func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sh.kick:
		case <-tick.C:
			sh.recover(ctx)
			continue
		case <-ctx.Done():
			sh.flush(context.Background())
			afterTurn()
			return
		}
		sh.flush(ctx)
		afterTurn()
	}
}

// flush writes everything queued. The first write of each key goes into
// all-or-nothing transactions of up to etcdstate.MaxChanges writes (one raft
// entry each: the group commit of etcd mode); a transaction that loses a compare
// falls back to one claim per write, to learn which lost. Later writes of a key
// in the same turn (a lease and its release) follow one by one, in order.
func (sh *sharedState) flush(ctx context.Context) {
	sh.mu.Lock()
	batch := sh.queue
	sh.queue = nil
	sh.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	errs := make([]error, len(batch))
	var firsts, single, reservations []int
	later := map[int]bool{}
	seen := map[string]bool{}
	for i, w := range batch {
		if w.settled {
			if errs[i] = w.outcome; errs[i] != nil {
				sh.forget(w.e) // write may run under st.mu: forget takes it here
			}
			continue
		}
		if w.e.Kind == kindReserve || w.e.Kind == kindUnreserve {
			reservations = append(reservations, i) // two keys each: see commitReservation
			continue
		}
		k := entryKey(w.e)
		if seen[k] {
			later[i] = true
			single = append(single, i)
			continue
		}
		seen[k] = true
		firsts = append(firsts, i)
	}
	for start := 0; start < len(firsts); start += etcdstate.MaxChanges {
		chunk := firsts[start:min(start+etcdstate.MaxChanges, len(firsts))]
		if !sh.commitAll(ctx, batch, chunk, errs) {
			single = append(single, chunk...)
		}
	}
	sort.Ints(single)
	sh.commitEach(ctx, batch, single, later, errs)
	sh.commitReservations(ctx, batch, reservations, errs)
	for i, w := range batch {
		w.done(errs[i])
	}
}

// commitAll writes the entries idx of batch in one transaction; false when a
// compare failed (nothing written). Without quorum the whole chunk fails (its
// renewals are owed instead).
func (sh *sharedState) commitAll(ctx context.Context, batch []sharedWrite, idx []int, errs []error) bool {
	changes := make([]etcdstate.Change, 0, len(idx))
	var guards []etcdstate.Change
	for _, i := range idx {
		e := batch[i].e
		changes = append(changes, etcdstate.Change{Key: entryKey(e), ExpectRev: e.expect, Value: e.encode()})
		if g, ok := leaseGuard(e); ok {
			guards = append(guards, g)
		}
	}
	if len(changes)+len(guards) > etcdstate.MaxChanges {
		return false // one by one instead: each lease with its guard
	}
	won, rev, err := sh.cli.ClaimAll(ctx, append(changes, guards...))
	if err != nil {
		for _, i := range idx {
			errs[i] = sh.unavailable(batch[i].e, err)
		}
		return true
	}
	if !won {
		return false
	}
	sh.commits.Add(uint64(len(idx)))
	sh.txns.Add(1)
	sh.st.mu.Lock()
	for _, ch := range changes {
		if ch.Value == nil {
			sh.st.revs[ch.Key] = keyRev{seen: max(rev, sh.st.revs[ch.Key].seen)}
		} else {
			sh.st.noteRev(ch.Key, rev)
		}
	}
	sh.st.mu.Unlock()
	return true
}

// commitEach claims the entries idx one by one, 64 keys at a time, each key's
// writes in order (a later one on the revision the earlier one made).
func (sh *sharedState) commitEach(ctx context.Context, batch []sharedWrite, idx []int, later map[int]bool, errs []error) {
	byKey := map[string][]int{}
	var order []string
	for _, i := range idx {
		k := entryKey(batch[i].e)
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, k := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				if later[i] {
					sh.st.mu.Lock()
					sh.st.stamp(batch[i].e)
					sh.st.mu.Unlock()
				}
				errs[i] = sh.commit(ctx, batch[i].e)
			}
		}(byKey[k])
	}
	wg.Wait()
}

// unavailable is the outcome of a write etcd did not answer: a renewal is owed
// (acknowledged from the local copy), anything else fails and is taken back.
func (sh *sharedState) unavailable(e *entry, err error) error {
	sh.markDown()
	if e.renewal {
		sh.log.Warnf("DHCP renewal of %s by %s acknowledged from the local copy, etcd has it later: %v", e.IP, e.MAC, err)
		sh.addRetry(e)
		return nil
	}
	sh.forget(e)
	return err
}

// commitReservations writes the reservation changes idx of batch concurrently
// (the API never has two in flight on one IP or MAC).
func (sh *sharedState) commitReservations(ctx context.Context, batch []sharedWrite, idx []int, errs []error) {
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sh.commitReservation(ctx, batch[i].e)
		}()
	}
	wg.Wait()
}

// commit writes one lease entry on the revision it was decided on.
func (sh *sharedState) commit(ctx context.Context, e *entry) error {
	if _, guarded := leaseGuard(e); guarded {
		return sh.commitGuardedLease(ctx, e)
	}
	key := entryKey(e)
	for attempt := 0; ; attempt++ {
		res, err := sh.cli.Claim(ctx, key, e.expect, e.encode())
		if err != nil {
			return sh.unavailable(e, err)
		}
		// A transaction of this turn that timed out may have been applied after
		// all: then the key holds exactly this entry, which is a win.
		if !res.Won && res.Revision != 0 && string(res.Value) == string(e.encode()) {
			res.Won = true
		}
		if res.Won {
			sh.commits.Add(1)
			sh.txns.Add(1)
			sh.st.mu.Lock()
			sh.st.noteRev(key, res.Revision)
			sh.st.mu.Unlock()
			return nil
		}
		// The same client's lease was renewed through another node since our copy
		// saw it: this write still says the right thing, on the newer revision.
		if attempt == 0 && res.Revision != 0 {
			if cur, _, err := decodeEntry(res.Value); err == nil && cur.MAC == e.MAC {
				e.expect = res.Revision
				continue
			}
		}
		sh.lost.Add(1)
		if res.Revision != 0 {
			sh.st.applyShared([]etcdstate.Event{{Key: key, Value: res.Value, Revision: res.Revision}})
		}
		return fmt.Errorf("%s of %s / %s: %w", e.Kind, e.IP, e.MAC, errClaimLost)
	}
}

// forget takes back the local binding of a lease etcd never got, so that the
// client's retry is a new allocation again (refused without quorum), not a renewal.
func (sh *sharedState) forget(e *entry) {
	if e.Kind != kindLease {
		return
	}
	ip, err := netip.ParseAddr(e.IP)
	if err != nil {
		return
	}
	sh.st.mu.Lock()
	defer sh.st.mu.Unlock()
	if sub := sh.st.subnetContaining(ip); sub != nil {
		if b := sub.byIP[ip]; b != nil && b.mac == e.MAC && b.ends == e.Ends && b.state == stateActive {
			b.state, b.ends = stateReleased, b.starts
		}
	}
}

// recover clears down once the watch is back, after writing the renewals
// acknowledged meanwhile (each only if the local copy still gives the address to
// that client: a newer write from another node wins).
func (sh *sharedState) recover(ctx context.Context) {
	if sh.mirror.Status().Watch != etcdstate.WatchWatching || !sh.mirror.Reachable() {
		return
	}
	if !sh.down.Load() && sh.owed() == 0 {
		return
	}
	// Only an answer newer than the failure says the cluster is back: trying
	// earlier would stall this committer (and every ACK) for another timeout.
	if sh.down.Load() && sh.mirror.LastAnswer().UnixNano() <= sh.downAt.Load() {
		return
	}
	sh.mu.Lock()
	retries := sh.retries
	sh.retries = nil
	sh.mu.Unlock()
	var failed []*entry
	for _, e := range retries {
		sh.st.mu.Lock()
		ip, _ := netip.ParseAddr(e.IP)
		var still bool
		if sub := sh.st.subnetContaining(ip); sub != nil {
			b := sub.byIP[ip]
			still = b != nil && b.mac == e.MAC && b.ends == e.Ends
		}
		sh.st.stamp(e)
		sh.st.mu.Unlock()
		if !still {
			continue
		}
		res, err := sh.cli.Claim(ctx, leaseKey(e.IP), e.expect, e.encode())
		if err != nil {
			failed = append(failed, e)
			continue
		}
		if res.Won {
			sh.commits.Add(1)
			sh.st.mu.Lock()
			sh.st.noteRev(leaseKey(e.IP), res.Revision)
			sh.st.mu.Unlock()
		}
	}
	if len(failed) > 0 {
		sh.mu.Lock()
		sh.retries = append(failed, sh.retries...)
		sh.mu.Unlock()
		return
	}
	sh.down.Store(false)
	sh.log.Infof("DHCP state in etcd is writable again (%d renewals written)", len(retries))
}

// owed is how many renewals were acknowledged without quorum and not yet written.
func (sh *sharedState) owed() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.retries)
}

// close fails what is still queued and ends the watch.
func (sh *sharedState) close() error {
	sh.mu.Lock()
	sh.closed = true
	queued := sh.queue
	sh.queue = nil
	if n := len(sh.retries); n > 0 {
		sh.log.Errorf("DHCP: %d renewals acknowledged without etcd quorum were never written (etcd keeps their previous expiry)", n)
	}
	sh.mu.Unlock()
	for _, w := range queued {
		w.done(errSharedClose)
	}
	sh.mirror.Stop()
	return sh.cli.Close()
}
