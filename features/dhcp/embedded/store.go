package embedded

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// bindingState is what an address is doing for the client bound to it.
type bindingState uint8

const (
	stateOffered  bindingState = iota // held briefly between OFFER and REQUEST; never journaled
	stateActive                       // ACKed until ends
	stateReleased                     // given back; free, but remembered for the same client
	stateDeclined                     // the client saw it in use: quarantined until ends
)

// binding ties one address of a subnet to one client. A subnet keeps at most one
// binding per address, which is what makes handing one address to two clients impossible.
type binding struct {
	ip       netip.Addr
	mac      string
	starts   int64 // unix seconds
	ends     int64
	state    bindingState
	hostname string
	// stored (etcd mode): the expiry of this client's lease as etcd holds it (0:
	// etcd holds no live lease of this client here). A renewal answered without
	// writing (no quorum, overload) is capped to it.
	stored int64
}

// holds reports whether the binding keeps the address from other clients at now.
func (b *binding) holds(now int64) bool { return b.state != stateReleased && now < b.ends }

// subnetState is a configured subnet with its reservations and bindings.
type subnetState struct {
	*subnetConfig
	reservedByMAC map[string]*record.Reservation
	reservedByIP  map[netip.Addr][]*record.Reservation
	byIP          map[netip.Addr]*binding
	byMAC         map[string]*binding // the client's current binding
	// pendingAdds are reservations whose journal line is queued but not yet
	// durable: no reader and no DHCP reply sees them until the commit, so nobody
	// learns of a reservation that a failed write then takes back. pendingDeletes
	// stay served until their unreserve line is durable. Compaction snapshots
	// include the adds and leave out the deletes, since it stands in for the
	// queued lines. (The API never has two writes of one IP or MAC in flight.)
	pendingAdds    map[*record.Reservation]struct{}
	pendingDeletes map[*record.Reservation]struct{}
	cursor         uint32 // where the dynamic pool looks next
	// poolFullLogged is when an exhausted pool was last logged (unix seconds).
	poolFullLogged int64
}

// store is the server's state: served by the packet handlers and the REST API under
// one lock, made durable through the journal.
type store struct {
	mu               sync.Mutex
	subnets          []*subnetState
	journal          *journal     // :state_backend: journal (the default)
	shared           *sharedState // :state_backend: etcd
	revs             map[string]keyRev
	declineProbation time.Duration
	log              *logrus.Entry
	lockFile         *os.File
}

// offerHold is how long an offered address waits for the client's REQUEST.
const offerHold = 30 * time.Second

const lockName = "dhcp_embedded.lock"

// openStore takes the state directory (one process at a time), replays the journal
// and compacts it into a fresh file.
func openStore(cfg *config, log *logrus.Entry) (*store, error) {
	if cfg.state.Etcd() {
		return openShared(cfg, log)
	}
	if err := os.MkdirAll(cfg.stateDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating state_dir %s: %w", cfg.stateDir, err)
	}
	lockPath := filepath.Join(cfg.stateDir, lockName)
	lf, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", lockPath, err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("state_dir %s is in use by another process (%s): %w", cfg.stateDir, lockPath, err)
	}
	st := newStore(cfg, log)
	st.lockFile = lf
	st.journal = newJournal(cfg.stateDir, cfg.fsync)
	warn := func(msg string) { log.Warn(msg) }
	if err := st.journal.replay(st.applyLine, warn); err != nil {
		st.close()
		return nil, err
	}
	snapshot, lines := st.capture().encode()
	if err := st.journal.rewrite(snapshot, lines); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// newStore is an empty in-memory store (no journal yet).
func newStore(cfg *config, log *logrus.Entry) *store {
	st := &store{declineProbation: cfg.declineProbation, log: log}
	for _, sc := range cfg.subnets {
		st.subnets = append(st.subnets, &subnetState{
			subnetConfig:   sc,
			reservedByMAC:  map[string]*record.Reservation{},
			reservedByIP:   map[netip.Addr][]*record.Reservation{},
			byIP:           map[netip.Addr]*binding{},
			byMAC:          map[string]*binding{},
			pendingAdds:    map[*record.Reservation]struct{}{},
			pendingDeletes: map[*record.Reservation]struct{}{},
		})
	}
	return st
}

func (st *store) close() error {
	var errs []error
	if st.shared != nil {
		errs = append(errs, st.shared.close())
	}
	if st.journal != nil {
		errs = append(errs, st.journal.close())
	}
	if st.lockFile != nil {
		errs = append(errs, st.lockFile.Close())
		st.lockFile = nil
	}
	return errors.Join(errs...)
}

// record appends an entry to the journal (when there is one). The caller holds st.mu.
func (st *store) record(e *entry, done func(error)) {
	if st.shared != nil {
		st.stamp(e)
		st.shared.write(e, done)
		return
	}
	if st.journal == nil {
		if done != nil {
			done(nil)
		}
		return
	}
	st.journal.append(e.encode(), done)
}

// commit makes a decided entry durable without st.mu (its revision is stamped).
func (st *store) commit(e *entry, done func(error)) {
	if st.shared != nil {
		st.shared.write(e, done)
		return
	}
	st.journal.append(e.encode(), done)
}

func (st *store) subnetByPrefix(p netip.Prefix) *subnetState {
	for _, s := range st.subnets {
		if s.Prefix == p {
			return s
		}
	}
	return nil
}

func (st *store) subnetContaining(ip netip.Addr) *subnetState {
	for _, s := range st.subnets {
		if s.Prefix.Contains(ip) {
			return s
		}
	}
	return nil
}

// bind records that ip of sub now belongs to mac in the given state. A binding of
// another client on that address is replaced; the client's binding on another
// address is released (a client holds one address per subnet).
func (st *store) bind(sub *subnetState, ip netip.Addr, mac string, state bindingState, starts, ends int64, hostname string) *binding {
	b := sub.byIP[ip]
	if b != nil && b.mac != mac {
		if sub.byMAC[b.mac] == b {
			delete(sub.byMAC, b.mac)
		}
		b = nil
	}
	if b == nil {
		b = &binding{ip: ip, mac: mac}
		sub.byIP[ip] = b
	}
	if old := sub.byMAC[mac]; old != nil && old != b && old.state != stateDeclined {
		old.state = stateReleased
	}
	b.state, b.starts, b.ends = state, starts, ends
	if hostname != "" {
		b.hostname = hostname
	}
	if state == stateDeclined {
		if sub.byMAC[mac] == b {
			delete(sub.byMAC, mac)
		}
	} else {
		sub.byMAC[mac] = b
	}
	return b
}

// putReservation adds r to sub, replacing the MAC's previous reservation; it
// returns the one replaced, if any.
func (st *store) putReservation(sub *subnetState, r *record.Reservation) *record.Reservation {
	prev := sub.reservedByMAC[r.MAC]
	if prev != nil {
		st.dropReservation(sub, prev)
	}
	sub.reservedByMAC[r.MAC] = r
	sub.reservedByIP[r.IP] = append(sub.reservedByIP[r.IP], r)
	return prev
}

func (st *store) dropReservation(sub *subnetState, r *record.Reservation) {
	if sub.reservedByMAC[r.MAC] == r {
		delete(sub.reservedByMAC, r.MAC)
	}
	list := sub.reservedByIP[r.IP]
	for i, x := range list {
		if x == r {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(sub.reservedByIP, r.IP)
	} else {
		sub.reservedByIP[r.IP] = list
	}
}

// applyLine replays one journal line into memory.
func (st *store) applyLine(line []byte) error {
	e, ip, err := decodeEntry(line)
	if err != nil {
		return err
	}
	switch e.Kind {
	case kindLease, kindRelease, kindDecline:
		sub := st.subnetContaining(ip)
		if sub == nil {
			return fmt.Errorf("%s of %s dropped: no configured subnet holds it", e.Kind, ip)
		}
		state := map[string]bindingState{kindLease: stateActive, kindRelease: stateReleased, kindDecline: stateDeclined}[e.Kind]
		b := st.bind(sub, ip, e.MAC, state, e.Starts, e.Ends, e.Hostname)
		b.stored = storedEnds(e)
	case kindReserve, kindUnreserve:
		prefix, err := netip.ParsePrefix(e.Subnet)
		sub := st.subnetByPrefix(prefix)
		if err != nil || sub == nil {
			return fmt.Errorf("reservation of %s dropped: subnet %q is not configured", ip, e.Subnet)
		}
		if e.Kind == kindUnreserve {
			if r := sub.reservedByMAC[e.MAC]; r != nil && r.IP == ip {
				st.dropReservation(sub, r)
			}
			return nil
		}
		st.putReservation(sub, &record.Reservation{Name: e.Name, IP: ip, MAC: e.MAC, Subnet: sub.Subnet, Options: e.Options})
	default:
		return fmt.Errorf("unknown entry kind %q", e.Kind)
	}
	return nil
}

// stateCopy is the whole state copied out under the lock, to be encoded after it
// is released: compaction then stalls the DHCP path only for the copy.
type stateCopy struct {
	reservations []reservationCopy
	bindings     []binding
}

type reservationCopy struct {
	prefix netip.Prefix
	r      record.Reservation
}

// capture copies the state. The caller holds st.mu or is the only user.
func (st *store) capture() stateCopy {
	var c stateCopy
	n := 0
	for _, sub := range st.subnets {
		n += len(sub.byIP)
	}
	c.bindings = make([]binding, 0, n)
	for _, sub := range st.subnets {
		for _, list := range sub.reservedByIP {
			for _, r := range list {
				if _, deleting := sub.pendingDeletes[r]; !deleting {
					c.reservations = append(c.reservations, reservationCopy{prefix: sub.Prefix, r: *r})
				}
			}
		}
		// After the committed ones: on replay a pending add replaces its MAC's
		// previous reservation, as its commit will.
		for r := range sub.pendingAdds {
			c.reservations = append(c.reservations, reservationCopy{prefix: sub.Prefix, r: *r})
		}
		for _, b := range sub.byIP {
			if b.state != stateOffered {
				c.bindings = append(c.bindings, *b)
			}
		}
	}
	return c
}

// encode renders the copy as journal lines.
func (c stateCopy) encode() ([]byte, int) {
	var out []byte
	for _, rc := range c.reservations {
		r := rc.r
		e := entry{Kind: kindReserve, IP: r.IP.String(), MAC: r.MAC, Subnet: rc.prefix.String(), Name: r.Name, Options: r.Options}
		out = append(append(out, e.encode()...), '\n')
	}
	for i := range c.bindings {
		out = append(append(out, bindingEntry(&c.bindings[i]).encode()...), '\n')
	}
	return out, len(c.reservations) + len(c.bindings)
}

// bindingEntry is the journal line for a binding; offers are not kept.
func bindingEntry(b *binding) *entry {
	kind := ""
	switch b.state {
	case stateActive:
		kind = kindLease
	case stateReleased:
		kind = kindRelease
	case stateDeclined:
		kind = kindDecline
	default:
		return nil
	}
	return &entry{Kind: kind, IP: b.ip.String(), MAC: b.mac, Starts: b.starts, Ends: b.ends, Hostname: b.hostname}
}

// compact rewrites the journal as a snapshot of the state. Changes queued but not
// yet written are part of the snapshot, so their writers are told once it is durable.
func (st *store) compact() {
	st.mu.Lock()
	state := st.capture()
	pending, waiters := st.journal.takePending()
	st.mu.Unlock()
	snapshot, lines := state.encode()
	err := st.journal.rewrite(snapshot, lines)
	if err != nil {
		st.log.Errorf("DHCP journal compaction failed, appending instead: %v", err)
		err = st.journal.writeDurably(pending)
	}
	for _, w := range waiters {
		w(err)
	}
}
