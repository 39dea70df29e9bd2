package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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

	mu           sync.Mutex
	queue        []sharedWrite // lease writes waiting for a transaction, oldest first
	reservations []sharedWrite // API writes: batched apart from leases (launchReservations)
	settled      []sharedWrite // decided without etcd, answered on the committer's next turn
	closed       bool
	kick         chan struct{}

	// The committer's own (only its goroutine touches them): transactions at
	// etcd now, the keys they write, and where they report back.
	flights    int
	resFlights int // of which reservation batches (shared_reservations.go)
	busy       map[string]bool
	taken      map[string]bool // nextBatch's scratch, kept to spare an allocation per turn
	results    chan *flight

	// down: the last write found no quorum. Until the watch is back, new writes
	// fail at once instead of each waiting out the timeout.
	down     atomic.Bool
	downAt   atomic.Int64  // unix nanoseconds when down was last set
	commits  atomic.Uint64 // entries written
	txns     atomic.Uint64 // etcd transactions that wrote them
	lost     atomic.Uint64 // claims another node won first
	shed     atomic.Uint64 // lease writes dropped unanswered: they waited past shedAfter
	fromCopy atomic.Uint64 // renewals answered without a write (no quorum, overload)
	// indexPending: reservations without their reservation-ip index key are
	// left (shared_index.go); indexRunning: a retry is under way.
	indexPending, indexRunning atomic.Bool
}

type sharedWrite struct {
	e    *entry
	key  string // entryKey(e), built once: the committer looks at it on every turn
	done func(error)
	// outcome: the answer of a write settled without etcd (no quorum).
	outcome error
	// deferred: queued behind a write of the same key that was still at etcd,
	// so its expected revision may be older than what that write made.
	deferred bool
}

// keyRev is what the store knows of one etcd key: its mod revision (0: absent)
// and the newest revision seen for it (a delete has one too), so an older event
// arriving late never undoes a newer one.
type keyRev struct{ mod, seen int64 }

const sharedPrefix = "dhcp/"

var (
	errClaimLost   = errors.New("another proxy changed it first")
	errSharedClose = errors.New("the DHCP state backend is closed (the server is stopping)")
	errShed        = errors.New("dropped: etcd did not keep up, the client will ask again")
)

// openShared connects, loads the prefix into a fresh store and keeps it watched.
func openShared(cfg *config, log *logrus.Entry) (*store, error) {
	cli, err := etcdstate.Open(context.Background(), cfg.state)
	if err != nil {
		return nil, fmt.Errorf("dhcp_embedded state in etcd: %w", err)
	}
	st := newStore(cfg, log)
	st.revs = map[string]keyRev{}
	sh := &sharedState{st: st, cli: cli, log: log, kick: make(chan struct{}, 1),
		busy: map[string]bool{}, taken: map[string]bool{}, results: make(chan *flight, maxFlights)}
	st.shared = sh
	sh.mirror = cli.NewMirror(sharedPrefix, st.applyShared)
	if err := sh.mirror.Start(context.Background()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("dhcp_embedded state in etcd: %w", err)
	}
	st.startCursorsApart()
	sh.ensureIndex(context.Background())
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

// write queues e for the committer; done runs once etcd holds it (or it failed,
// or it was dropped as too old). Without quorum a renewal of the client's own
// lease is answered from the local copy (see answerFromCopy); anything else fails
// at once. Either way done runs on the committer's turn, whose end sends the ACKs
// its callbacks queued.
func (sh *sharedState) write(e *entry, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	e.queued = time.Now()
	w := sharedWrite{e: e, key: entryKey(e), done: done}
	settled := !sh.writable()
	if settled {
		if e.renewal {
			w.outcome = sh.answerFromCopy(e)
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
	// Behind by half the shed limit already: a renewal etcd's record still
	// covers is answered at once from the copy instead of waiting in the queue.
	if !settled && e.renewal && len(sh.queue) > 0 && e.queued.Sub(sh.queue[0].e.queued) > shedAfter/2 {
		if sh.answerFromCopy(e) == nil {
			settled = true
		}
	}
	switch {
	case settled:
		sh.settled = append(sh.settled, w)
	case e.Kind == kindReserve || e.Kind == kindUnreserve:
		sh.reservations = append(sh.reservations, w)
	default:
		sh.queue = append(sh.queue, w)
	}
	sh.mu.Unlock()
	select {
	case sh.kick <- struct{}{}:
	default:
	}
}

// answerFromCopy settles a renewal without writing it (no quorum, or etcd too
// far behind): the ACK keeps the expiry etcd already holds for the client's
// lease, so the client never holds the address past the moment another node,
// reading etcd, may see it free. Once that record has run out the renewal gets
// no answer: only a write could extend it.
func (sh *sharedState) answerFromCopy(e *entry) error {
	if e.stored <= time.Now().Unix() {
		return fmt.Errorf("renewal of %s by %s: etcd's record of the lease has run out and cannot be extended now: %w", e.IP, e.MAC, etcdstate.ErrUnavailable)
	}
	e.Ends = min(e.Ends, e.stored)
	e.fromCopy = true
	sh.fromCopy.Add(1)
	return nil
}

// storedEnds is the expiry a binding's record in etcd gives its client (0: none).
func storedEnds(e *entry) int64 {
	if e.Kind == kindLease {
		return e.Ends
	}
	return 0
}

// noteWritten records what etcd holds after this node's write of e won at rev.
// The caller holds st.mu.
func (st *store) noteWritten(e *entry, rev int64) {
	st.noteRev(entryKey(e), rev)
	ip, err := netip.ParseAddr(e.IP)
	if err != nil {
		return
	}
	if sub := st.subnetContaining(ip); sub != nil {
		if b := sub.byIP[ip]; b != nil && b.mac == e.MAC {
			b.stored = storedEnds(e)
		}
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

// forget takes back the local binding of a lease etcd never got, so that the
// client's retry is a new allocation again (refused without quorum), not a renewal.
func (sh *sharedState) forget(e *entry) { sh.forgetAll([]*entry{e}) }

// forgetAll is forget for many, under one hold of the store lock.
func (sh *sharedState) forgetAll(entries []*entry) {
	if len(entries) == 0 {
		return
	}
	sh.st.mu.Lock()
	defer sh.st.mu.Unlock()
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.IP)
		if e.Kind != kindLease || err != nil {
			continue
		}
		if sub := sh.st.subnetContaining(ip); sub != nil {
			if b := sub.byIP[ip]; b != nil && b.mac == e.MAC && b.ends == e.Ends && b.state == stateActive {
				b.state, b.ends = stateReleased, b.starts
			}
		}
	}
}

// close fails what is still queued and ends the watch.
func (sh *sharedState) close() error {
	sh.mu.Lock()
	sh.closed = true
	queued := append(append(sh.queue, sh.reservations...), sh.settled...)
	sh.queue, sh.reservations, sh.settled = nil, nil, nil
	sh.mu.Unlock()
	for _, w := range queued {
		w.done(errSharedClose)
	}
	sh.mirror.Stop()
	return sh.cli.Close()
}
