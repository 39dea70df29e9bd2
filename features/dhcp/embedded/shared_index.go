package embedded

import (
	"context"
	"slices"
	"strings"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// Reservations written before the reservation-ip index existed have no index key,
// so the cluster's IP uniqueness (shared_reservations.go) does not cover them: a
// node whose copy lacked one could reserve its address for another MAC, or lease
// it. Every node adds the missing keys when it starts and, should that fail, on
// the committer's next ticks until done.
//
// A key is added only in a transaction that also requires every reservation the
// value names to be at the revision the node saw and the index key to be still
// absent: a node doing the same, or an API write of that address, makes the
// transaction fail instead of leaving an index that names a deleted reservation
// or drops a new one. A failed transaction is decided again from the copy once the
// watch has delivered what changed.

// missingIndex is one address whose reservations have no index key.
type missingIndex struct {
	key   string
	value []byte
	reads []etcdstate.Change // the reservations, at the revisions the value was made from
}

// changes is the transaction of one address.
func (m missingIndex) changes() []etcdstate.Change {
	return append(slices.Clone(m.reads), etcdstate.Change{Key: m.key, Value: m.value})
}

// missingIndexes lists the addresses of the copy that hold reservations already in
// etcd but no index key. An address with a reservation not yet in etcd is left to
// that reservation's own write, which writes the index too.
func (st *store) missingIndexes() []missingIndex {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []missingIndex
	for _, sub := range st.subnets {
		for ip, list := range sub.reservedByIP {
			key := reservationIPKey(ip.String())
			if len(list) == 0 || st.revs[key].mod != 0 {
				continue
			}
			m := missingIndex{key: key}
			var macs []string
			for _, r := range list {
				rk := reservationKey(sub.Prefix.String(), r.MAC)
				rev := st.revs[rk].mod
				if rev == 0 {
					m.reads = nil
					break
				}
				macs = append(macs, r.MAC)
				m.reads = append(m.reads, etcdstate.Change{Key: rk, ExpectRev: rev, Keep: true})
			}
			if m.reads == nil {
				continue
			}
			slices.Sort(macs)
			m.value = []byte(strings.Join(slices.Compact(macs), ","))
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b missingIndex) int { return strings.Compare(a.key, b.key) })
	return out
}

// backfillIndex writes the missing index keys, as many addresses per transaction
// as fit in one, and says how many it added and whether any is left to do (a
// transaction lost to a concurrent write, or etcd did not answer).
func (sh *sharedState) backfillIndex(ctx context.Context) (added int, pending bool, err error) {
	todo := sh.st.missingIndexes()
	for len(todo) > 0 {
		n, size := 0, 0
		for n < len(todo) && size+len(todo[n].reads)+1 <= etcdstate.MaxChanges {
			size += len(todo[n].reads) + 1
			n++
		}
		if n == 0 { // one address with more reservations than a transaction takes
			sh.log.Warnf("DHCP: %s has too many reservations to index in one etcd transaction", todo[0].key)
			todo = todo[1:]
			continue
		}
		chunk := todo[:n]
		todo = todo[n:]
		var changes []etcdstate.Change
		for _, m := range chunk {
			changes = append(changes, m.changes()...)
		}
		won, rev, err := sh.cli.ClaimAll(ctx, changes)
		if err != nil {
			return added, true, err
		}
		if won {
			added += len(chunk)
			sh.noteIndexes(chunk, rev)
			continue
		}
		// Something in the chunk changed meanwhile: one address at a time.
		for _, m := range chunk {
			won, rev, err := sh.cli.ClaimAll(ctx, m.changes())
			if err != nil {
				return added, true, err
			}
			if won {
				added++
				sh.noteIndexes([]missingIndex{m}, rev)
				continue
			}
			// Another node (or an API write) wrote the key first, or a reservation
			// changed: the watch brings that, and the next round decides again.
			if _, idxRev, err := sh.cli.Get(ctx, m.key); err != nil {
				return added, true, err
			} else if idxRev == 0 {
				pending = true
			}
		}
	}
	return added, pending, nil
}

func (sh *sharedState) noteIndexes(done []missingIndex, rev int64) {
	sh.st.mu.Lock()
	defer sh.st.mu.Unlock()
	for _, m := range done {
		sh.st.noteRev(m.key, rev)
	}
}

// ensureIndex runs backfillIndex and remembers whether it has to run again.
func (sh *sharedState) ensureIndex(ctx context.Context) {
	added, pending, err := sh.backfillIndex(ctx)
	if added > 0 {
		sh.log.Infof("DHCP: added the reservation-ip index key of %d addresses reserved before the index existed", added)
	}
	if err != nil {
		sh.log.Warnf("DHCP: adding missing reservation-ip index keys (retried every second): %v", err)
	}
	sh.indexPending.Store(pending || err != nil)
}

// retryIndex runs ensureIndex again, off the committer, while keys are missing.
func (sh *sharedState) retryIndex(ctx context.Context) {
	if !sh.indexPending.Load() || !sh.indexRunning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer sh.indexRunning.Store(false)
		sh.ensureIndex(ctx)
	}()
}
