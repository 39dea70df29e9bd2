package embedded

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// The committer of etcd mode: it groups queued lease writes into transactions,
// keeps a few of them at etcd at once, drops the writes that waited too long, and
// hands every outcome back on its own goroutine, which then sends the ACKs.

// maxFlights is how many lease transactions may be at etcd at once. With one, a
// turn's ACKs wait for the whole previous round; a second transaction goes out
// only once a full one (etcdstate.MaxChanges keys) is ready, so under light load
// writes still group into one transaction per round, and under heavy load etcd
// gets full transactions back to back instead of one at a time. Keys in flight
// are never written by a second transaction (a key's writes stay in order).
const maxFlights = 4

// shedAfter is how long a lease write may wait in the queue. While etcd keeps up
// an ACK waits 5-15 ms; a write queued for half a second means etcd is far
// behind, and writing it anyway only makes every later client wait longer too
// (measured: the backlog grew to seconds and outlived the load). perfdhcp gives
// up after 1 s and real clients retransmit after about 4 s (RFC 2131 §4.1), so a
// write dispatched within 500 ms still answers in time, while an older one is
// dropped: its client retries, maybe on the other node, maybe when etcd has caught up.
const shedAfter = 500 * time.Millisecond

// flight is one batch of writes at etcd.
type flight struct {
	writes      []sharedWrite
	errs        []error
	keys        []string
	reservation bool // API writes (commitReservations), not a lease batch
}

// run is the committer. It wakes on new writes, on finished flights and on a
// tick (which sheds writes that aged in the queue and, once a second, checks
// whether a lost quorum is back), launches what can go, and after every wake
// sends the replies the finished writes allowed (afterTurn).
func (sh *sharedState) run(ctx context.Context, afterTurn func()) {
	shedTick := time.NewTicker(shedAfter / 5)
	defer shedTick.Stop()
	recoverTick := time.NewTicker(time.Second)
	defer recoverTick.Stop()
	for {
		select {
		case <-sh.kick:
		case f := <-sh.results:
			sh.land(f)
		case <-shedTick.C:
		case <-recoverTick.C:
			sh.recover()
			sh.retryIndex(ctx)
		case <-ctx.Done():
			sh.drain(afterTurn)
			return
		}
		for more := true; more; {
			select {
			case f := <-sh.results:
				sh.land(f)
			default:
				more = false
			}
		}
		sh.dispatch(ctx, false)
		afterTurn()
	}
}

// drain writes everything still queued when the server stops, then sends the ACKs.
func (sh *sharedState) drain(afterTurn func()) {
	for {
		sh.dispatch(context.Background(), true)
		if sh.flights == 0 {
			sh.mu.Lock()
			empty := len(sh.queue)+len(sh.reservations)+len(sh.settled) == 0
			sh.mu.Unlock()
			if empty {
				break
			}
			continue
		}
		sh.land(<-sh.results)
	}
	afterTurn()
}

// land tells the writers of a finished flight and frees its keys.
func (sh *sharedState) land(f *flight) {
	sh.flights--
	if f.reservation {
		sh.resFlights--
	}
	for _, k := range f.keys {
		delete(sh.busy, k)
	}
	for i, w := range f.writes {
		w.done(f.errs[i])
	}
}

// dispatch answers the writes settled without etcd, sheds the lease writes that
// waited past shedAfter, and launches what may go: every API write whose keys
// are free, and lease batches while fewer than maxFlights are out (a batch that
// is not full only when none is; drain: everything).
func (sh *sharedState) dispatch(ctx context.Context, drain bool) {
	now := time.Now()
	sh.mu.Lock()
	settled, reservations := sh.settled, sh.reservations
	sh.settled, sh.reservations = nil, nil
	var aged []sharedWrite
	for len(sh.queue) > 0 && now.Sub(sh.queue[0].e.queued) > shedAfter {
		aged = append(aged, sh.queue[0])
		sh.queue = sh.queue[1:]
	}
	var batches [][]sharedWrite
	for len(sh.queue) > 0 && (drain || sh.flights+len(batches) < maxFlights) {
		// While a batch is out only a full one may go, and a queue whose writes
		// would all fit one transaction cannot fill it: skip the scan, which
		// otherwise runs on every write's wake-up (under sh.mu, which the
		// packet path waits for) over the whole queue.
		if !drain && sh.flights+len(batches) > 0 && 2*len(sh.queue) <= etcdstate.MaxChanges {
			break
		}
		batch, rest, full := sh.nextBatch(sh.queue)
		if len(batch) == 0 || !full && !drain && sh.flights+len(batches) > 0 {
			break
		}
		for _, w := range batch {
			sh.busy[w.key] = true
		}
		batches = append(batches, batch)
		sh.queue = rest
	}
	sh.mu.Unlock()

	// Launch first: the callbacks below wait for the store lock, which the
	// read loop holds often under load, and these batches are already aging.
	for _, b := range batches {
		keys := make([]string, len(b))
		for i, w := range b {
			keys[i] = w.key
		}
		sh.launch(ctx, &flight{writes: b, keys: keys})
	}
	waiting := sh.launchReservations(ctx, reservations, drain)
	if len(waiting) > 0 {
		sh.mu.Lock()
		sh.reservations = append(waiting, sh.reservations...)
		sh.mu.Unlock()
	}
	for _, w := range settled {
		if w.outcome != nil {
			sh.forget(w.e)
		}
		w.done(w.outcome)
	}
	sh.shedAll(aged, now)
}

// nextBatch takes from queue the oldest writes of distinct keys not in flight,
// up to one transaction's worth (a guarded lease counts twice); the others stay,
// in order. full: the batch stopped for want of room.
func (sh *sharedState) nextBatch(queue []sharedWrite) (batch, rest []sharedWrite, full bool) {
	var skipped []sharedWrite
	taken := sh.taken
	clear(taken)
	ops := 0
	i := 0
	for ; i < len(queue); i++ {
		w := queue[i]
		k := w.key
		if sh.busy[k] || taken[k] {
			w.deferred = true
			skipped = append(skipped, w)
			continue
		}
		n := 1
		if guardsLease(w.e) {
			n = 2
		}
		if ops+n > etcdstate.MaxChanges {
			full = true
			break
		}
		ops += n
		taken[k] = true
		batch = append(batch, w)
	}
	if len(skipped) == 0 {
		return batch, queue[i:], full
	}
	return batch, append(skipped, queue[i:]...), full
}

// launch sends a flight to etcd on its own goroutine; run takes it back.
func (sh *sharedState) launch(ctx context.Context, f *flight) {
	sh.flights++
	f.errs = make([]error, len(f.writes))
	now := time.Now()
	for _, w := range f.writes {
		w.e.dispatched = now
	}
	go func() {
		switch {
		case f.reservation:
			sh.commitReservations(ctx, f.writes, f.errs)
		default:
			sh.commitBatch(ctx, f.writes, f.errs)
		}
		sh.results <- f
	}()
}

// shedAll drops the lease writes that waited too long for etcd. A renewal is
// answered from the local copy instead when etcd's record allows it.
func (sh *sharedState) shedAll(aged []sharedWrite, now time.Time) {
	var taken []*entry
	for _, w := range aged {
		e, waited := w.e, now.Sub(w.e.queued).Round(time.Millisecond)
		if e.renewal && sh.answerFromCopy(e) == nil {
			sh.log.Debugf("DHCP renewal of %s by %s answered from the local copy until %d (etcd's expiry): it waited %s for etcd",
				e.IP, e.MAC, e.Ends, waited)
			w.done(nil)
			continue
		}
		sh.shed.Add(1)
		sh.log.Debugf("DHCP %s of %s to %s dropped unanswered: it waited %s for etcd (limit %s); the client will ask again",
			e.Kind, e.IP, e.MAC, waited, shedAfter)
		if !e.renewal {
			taken = append(taken, e)
		}
		w.done(errShed)
	}
	sh.forgetAll(taken)
}

// commitBatch writes a batch: the writes decided on a revision etcd may still
// hold go in one all-or-nothing transaction (one raft entry: the group commit of
// etcd mode); if a compare fails, one claim per write finds out which lost.
// Deferred writes (their key had a write at etcd when they were decided) go one
// by one, where a same-client write on a newer revision is retried.
func (sh *sharedState) commitBatch(ctx context.Context, writes []sharedWrite, errs []error) {
	var fresh, deferred []int
	for i, w := range writes {
		if w.deferred {
			deferred = append(deferred, i)
		} else {
			fresh = append(fresh, i)
		}
	}
	if len(fresh) > 0 && !sh.commitAll(ctx, writes, fresh, errs) {
		deferred = append(deferred, fresh...)
	}
	sh.commitEach(ctx, writes, deferred, errs)
}

// commitAll writes the entries idx of writes in one transaction; false when a
// compare failed (nothing written). Without quorum the whole batch fails (its
// renewals are answered from the local copy instead).
func (sh *sharedState) commitAll(ctx context.Context, writes []sharedWrite, idx []int, errs []error) bool {
	changes := make([]etcdstate.Change, 0, 2*len(idx))
	for _, i := range idx {
		e := writes[i].e
		changes = append(changes, etcdstate.Change{Key: writes[i].key, ExpectRev: e.expect, Value: e.encode()})
	}
	for _, i := range idx {
		if g, ok := leaseGuard(writes[i].e); ok {
			changes = append(changes, g)
		}
	}
	won, rev, err := sh.cli.ClaimAll(ctx, changes)
	if err != nil {
		for _, i := range idx {
			errs[i] = sh.unavailable(writes[i].e, err)
		}
		return true
	}
	if !won {
		return false
	}
	sh.commits.Add(uint64(len(idx)))
	sh.txns.Add(1)
	sh.st.mu.Lock()
	for _, i := range idx {
		sh.st.noteWritten(writes[i].e, rev)
	}
	sh.st.mu.Unlock()
	return true
}

// commitEach claims the entries idx one by one, 64 at a time (their keys differ).
func (sh *sharedState) commitEach(ctx context.Context, writes []sharedWrite, idx []int, errs []error) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, i := range idx {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = sh.commit(ctx, writes[i].e)
		}()
	}
	wg.Wait()
}

// unavailable is the outcome of a write etcd did not answer: a renewal is
// answered from the local copy (capped to etcd's expiry), anything else fails
// and is taken back.
func (sh *sharedState) unavailable(e *entry, err error) error {
	sh.markDown()
	if e.renewal && sh.answerFromCopy(e) == nil {
		sh.log.Warnf("DHCP renewal of %s by %s answered from the local copy until %d, the expiry etcd holds: %v", e.IP, e.MAC, e.Ends, err)
		return nil
	}
	sh.forget(e)
	return err
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
		// A transaction that timed out may have been applied after all: then
		// the key holds exactly this entry, which is a win.
		if !res.Won && res.Revision != 0 && string(res.Value) == string(e.encode()) {
			res.Won = true
		}
		if res.Won {
			sh.commits.Add(1)
			sh.txns.Add(1)
			sh.st.mu.Lock()
			sh.st.noteWritten(e, res.Revision)
			sh.st.mu.Unlock()
			return nil
		}
		// The same client's lease was written since our copy saw it (renewed
		// through another node, or our own earlier write): this write still says
		// the right thing, on the newer revision.
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

// recover clears down once the watch is back and the cluster has answered since
// the failure. Nothing is owed: renewals answered meanwhile stayed within the
// expiry etcd holds.
func (sh *sharedState) recover() {
	if !sh.down.Load() || sh.mirror.Status().Watch != etcdstate.WatchWatching || !sh.mirror.Reachable() {
		return
	}
	// Only an answer newer than the failure says the cluster is back: trying
	// earlier would stall writes (and their ACKs) for another timeout.
	if sh.mirror.LastAnswer().UnixNano() <= sh.downAt.Load() {
		return
	}
	sh.down.Store(false)
	sh.log.Infof("DHCP state in etcd is writable again")
}
