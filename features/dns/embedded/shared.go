package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// With :state_backend: etcd the records live under <prefix>dns/ in one key per
// owner name, so a zone is not bounded by etcd's request size and a change ships
// only the names it touches:
//
//	dns/names/<zone>/<owner>  {"records": [...]}: the owner's records in zone-file syntax
//	dns/serial/<zone>         rewritten by every transaction that changes the zone
//	dns/zones/<zone>          the old shape (the whole zone in one key), migrated (migrate.go)
//
// Every node serves from its watched copy (etcdstate.Mirror). An update is planned
// on that copy and written in one transaction that puts (or deletes) the keys of
// the names it changes, each only if still at the revision the plan saw, and the
// zone's serial key: of two nodes changing one name at once, one wins and the other
// waits until its copy holds the winner's change, then plans again. The keys of
// names its prerequisites look at are compared too (without being written).
//
// The SOA serial is the mod revision of the serial key, the revision of the zone's
// last change: every node serves the same serial for the same records, and it grows
// with every change.
const (
	dnsPrefix    = "dns/"
	namesPrefix  = "dns/names/"
	serialPrefix = "dns/serial/"
	legacyPrefix = "dns/zones/"
)

// maxClaimRounds bounds how often one update replans after losing to another node.
const maxClaimRounds = 20

// nameValue is the value of a dns/names/ key (and of a dns/zones/ key, the old shape).
type nameValue struct {
	Records []string `json:"records"`
}

// sharedZones is the etcd side of a Store.
type sharedZones struct {
	s     *Store
	cfg   etcdstate.Config
	conn  atomic.Pointer[connection]
	ctx   context.Context // ends with close: connectLater, migrations, the saver
	stop  context.CancelFunc
	tasks sync.WaitGroup

	// Guarded by the Store's writeMu:
	legacy    map[string]*legacyZone // zones whose old-shape key is in etcd
	migrating map[string]bool        // zones with a migration goroutine
	seen      map[string]bool        // keys read since starting from the saved copy (see reconcile)
	closed    bool                   // no new goroutine after close began

	cache    string        // with :state_dir:, the file keeping this node's copy (sharedcopy.go)
	dirty    chan struct{} // asks the saver to write the copy
	haveCopy atomic.Bool   // loaded from the cache or from etcd: worth saving
}

// connection is the client and the watched copy, once the cluster answered.
type connection struct {
	cli    *etcdstate.Client
	mirror *etcdstate.Mirror
}

// openSharedStore connects to etcd and loads every configured zone from it. With
// :state_dir: the node also keeps its copy there, so that when the cluster does not
// answer at start it serves that copy and connects later; without, it does not
// start (it would serve empty zones).
func openSharedStore(cfg config, log *logrus.Entry) (*Store, error) {
	s := &Store{zones: map[string]*zone{}, dormant: map[string]*zone{}, changed: func() {}, log: log}
	for _, zc := range cfg.zones {
		s.zones[zc.name] = newZone(zc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sh := &sharedZones{s: s, cfg: cfg.state, ctx: ctx, stop: cancel,
		legacy: map[string]*legacyZone{}, migrating: map[string]bool{}, dirty: make(chan struct{}, 1)}
	s.shared = sh
	if cfg.stateDir != "" {
		if err := os.MkdirAll(cfg.stateDir, 0o750); err != nil {
			cancel()
			return nil, fmt.Errorf("state dir: %w", err)
		}
		sh.cache = filepath.Join(cfg.stateDir, etcdCopyFile)
		cached, err := sh.loadCache()
		if err != nil {
			cancel()
			return nil, err
		}
		if cached {
			sh.seen = map[string]bool{}
			sh.haveCopy.Store(true)
		}
		sh.goRun(sh.saver)
	}
	err := sh.connect(ctx)
	if err == nil {
		return s, nil
	}
	if sh.seen == nil || !errors.Is(err, etcdstate.ErrUnavailable) {
		sh.close()
		return nil, err
	}
	log.Errorf("dns_embedded: serving the copy in %s without etcd; updates are refused until the cluster answers: %v", sh.cache, err)
	sh.goRun(sh.connectLater)
	return s, nil
}

// goRun runs f in a goroutine that close waits for.
func (sh *sharedZones) goRun(f func()) {
	sh.tasks.Add(1)
	go func() {
		defer sh.tasks.Done()
		f()
	}()
}

// connect opens the client and starts the watched copy.
func (sh *sharedZones) connect(ctx context.Context) error {
	cli, err := etcdstate.Open(ctx, sh.cfg)
	if err != nil {
		return err
	}
	mirror := cli.NewMirror(dnsPrefix, sh.apply)
	if err := mirror.Start(ctx); err != nil {
		cli.Close()
		return err
	}
	sh.reconcile() // before updates can run: they are not in seen
	sh.conn.Store(&connection{cli: cli, mirror: mirror})
	sh.haveCopy.Store(true)
	return nil
}

// connectLater retries connect every 2 s until it works or the store closes.
func (sh *sharedZones) connectLater() {
	for {
		select {
		case <-sh.ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if err := sh.connect(sh.ctx); err == nil {
			sh.s.log.Info("dns_embedded: connected to etcd; the copy is current")
			return
		}
	}
}

// mirror is the watched copy, nil until connected.
func (sh *sharedZones) mirror() *etcdstate.Mirror {
	if c := sh.conn.Load(); c != nil {
		return c.mirror
	}
	return nil
}

func (sh *sharedZones) close() error {
	sh.s.writeMu.Lock()
	sh.closed = true
	sh.s.writeMu.Unlock()
	sh.stop()
	sh.tasks.Wait()
	var err error
	if c := sh.conn.Swap(nil); c != nil {
		c.mirror.Stop()
		err = c.cli.Close()
	}
	sh.saveNow()
	return err
}

// keyKind says what a key under dns/ holds.
type keyKind int

const (
	kindOther keyKind = iota
	kindName
	kindSerial
	kindLegacy
)

// parseKey finds the served zone (nil: none) and owner name of a key.
func (sh *sharedZones) parseKey(key string) (keyKind, *zone, string) {
	switch {
	case strings.HasPrefix(key, namesPrefix):
		rest := key[len(namesPrefix):]
		for i := 0; i < len(rest); i++ {
			if rest[i] != '/' {
				continue
			}
			if z := sh.s.zones[rest[:i]]; z != nil {
				owner := rest[i+1:]
				if !dns.IsSubDomain(z.name, owner) {
					return kindOther, nil, ""
				}
				return kindName, z, owner
			}
		}
	case strings.HasPrefix(key, serialPrefix):
		if z := sh.s.zones[key[len(serialPrefix):]]; z != nil {
			return kindSerial, z, ""
		}
	case strings.HasPrefix(key, legacyPrefix):
		if z := sh.s.zones[key[len(legacyPrefix):]]; z != nil {
			return kindLegacy, z, ""
		}
	}
	return kindOther, nil, ""
}

func nameKey(z *zone, owner string) string { return namesPrefix + z.name + "/" + owner }

// nameChange is one owner name's records as a key holds them at rev (none: deleted).
type nameChange struct {
	z     *zone
	owner string
	rrs   []dns.RR
	rev   int64
}

// apply brings the copy to what etcd holds (the mirror's goroutine; events of
// one batch are in revision order from a watch, in key order from a read).
func (sh *sharedZones) apply(events []etcdstate.Event) {
	s := sh.s
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	changed := false
	// The old shape first: while a zone's old key exists, the zone serves it.
	for _, ev := range events {
		if kind, z, _ := sh.parseKey(ev.Key); kind == kindLegacy {
			changed = sh.applyLegacy(z, ev) || changed
		}
	}
	var names []nameChange // parsed before taking mu: queries wait only for the swap
	serials := map[*zone]int64{}
	for _, ev := range events {
		kind, z, owner := sh.parseKey(ev.Key)
		if sh.seen != nil {
			sh.seen[ev.Key] = true
		}
		switch kind {
		case kindName:
			target := sh.namesOf(z)
			if ev.Revision <= target.keyRevs[owner] {
				continue // this node's own write, applied when etcd acknowledged it
			}
			ch := nameChange{z: target, owner: owner, rev: ev.Revision}
			if !ev.Deleted {
				var err error
				if ch.rrs, err = decodeName(ev.Value); err == nil {
					err = sameOwner(ch.rrs, owner)
				}
				if err != nil {
					s.log.Errorf("dns_embedded: etcd key %s at revision %d not applied: %v", ev.Key, ev.Revision, err)
					continue
				}
			}
			names = append(names, ch)
		case kindSerial:
			if !ev.Deleted && ev.Revision > z.rev {
				serials[z] = ev.Revision
			}
		}
	}
	if len(names) == 0 && len(serials) == 0 && !changed {
		return
	}
	s.mu.Lock()
	for _, ch := range names {
		ch.z.setName(ch.owner, ch.rrs, ch.rev)
	}
	for z, rev := range serials {
		z.rev = rev
		sh.refreshSerial(z)
	}
	s.mu.Unlock()
	sh.saveLater()
	s.changed()
}

// namesOf is the zone the per-name keys of z go to: z itself, or while z's old
// key exists, the shadow kept until the migration ends.
func (sh *sharedZones) namesOf(z *zone) *zone {
	if lz := sh.legacy[z.name]; lz != nil {
		return lz.shadow
	}
	return z
}

// refreshSerial sets the served serial (the caller holds mu).
func (sh *sharedZones) refreshSerial(z *zone) {
	if lz := sh.legacy[z.name]; lz != nil {
		z.serial = serialOf(lz.rev)
		return
	}
	z.serial = serialOf(z.rev)
}

// setName installs the records of owner as of its key's revision rev (none: the
// key is gone). The caller holds mu, or z is not served.
func (z *zone) setName(owner string, rrs []dns.RR, rev int64) {
	n := &node{sets: map[uint16][]dns.RR{}}
	for _, x := range rrs {
		n.add(x)
	}
	z.setNode(owner, n)
	if n.empty() {
		delete(z.keyRevs, owner)
	} else {
		z.keyRevs[owner] = rev
	}
}

// serialOf is the SOA serial of a zone last changed at etcd revision rev (RFC 1982
// arithmetic makes the wrap after 2^32 revisions harmless).
func serialOf(rev int64) uint32 {
	if s := uint32(rev); s != 0 {
		return s
	}
	return 1
}

// update plans the change on the local copy and writes the names it changes. It
// returns an error wrapping etcdstate.ErrUnavailable when the cluster does not
// answer. The caller holds writeMu; it is released while etcd is asked.
func (sh *sharedZones) update(z *zone, prereq, updates []dns.RR) (int, error) {
	s := sh.s
	for round := 0; round < maxClaimRounds; round++ {
		conn := sh.conn.Load()
		if conn == nil {
			return dns.RcodeServerFailure, fmt.Errorf("%w: this node started while the cluster did not answer and is not connected yet; records are served from its copy", etcdstate.ErrUnavailable)
		}
		if sh.legacy[z.name] != nil {
			if !sh.waitFor(func() bool { return sh.legacy[z.name] == nil }) {
				return dns.RcodeServerFailure, fmt.Errorf("%w: zone %s is being migrated to one etcd key per name; try again", etcdstate.ErrUnavailable, z.name)
			}
			continue
		}
		if !conn.mirror.Reachable() {
			return dns.RcodeServerFailure, fmt.Errorf("%w: the cluster did not answer this node's last read; records are served from its copy, changes wait for quorum", etcdstate.ErrUnavailable)
		}
		dels, adds, rcode := z.plan(prereq, updates)
		if rcode != dns.RcodeSuccess || len(dels)+len(adds) == 0 {
			return rcode, nil
		}
		changes, after := z.changesFor(dels, adds)
		changes = append(changes, z.prerequisiteGuards(prereq, after)...)
		changes = append(changes, etcdstate.Change{Key: serialPrefix + z.name, ExpectRev: etcdstate.AnyRevision, Value: []byte(z.name)})
		if len(changes) > etcdstate.MaxChanges {
			err := fmt.Errorf("the update changes and checks %d names of zone %s; at most %d in one update on etcd", len(changes)-1, z.name, etcdstate.MaxChanges-1)
			s.log.Warnf("dns_embedded: %v", err)
			return dns.RcodeServerFailure, err
		}
		// Other updates through this node may plan and write meanwhile: the compares
		// order them as they order other nodes' updates.
		s.writeMu.Unlock()
		won, rev, err := conn.cli.ClaimAll(context.Background(), changes)
		s.writeMu.Lock()
		if err != nil {
			s.log.Errorf("dns_embedded: update of %s not applied: %v", z.name, err)
			return dns.RcodeServerFailure, err
		}
		if won {
			target := sh.namesOf(z) // an old node may have rewritten the old shape meanwhile
			s.mu.Lock()
			for owner, rrs := range after {
				if rev > target.keyRevs[owner] { // else a later change is already in the copy
					target.setName(owner, rrs, rev)
				}
			}
			z.rev = max(z.rev, rev)
			sh.refreshSerial(z)
			s.mu.Unlock()
			sh.saveLater()
			s.changed()
			return dns.RcodeSuccess, nil
		}
		// Another node changed a name first: plan again once the copy holds its change.
		if !sh.waitFor(func() bool { return conn.mirror.Revision() >= rev }) {
			return dns.RcodeServerFailure, fmt.Errorf("%w: this node's copy did not reach revision %d within %s", etcdstate.ErrUnavailable, rev, sh.cfg.Timeout)
		}
	}
	return dns.RcodeServerFailure, fmt.Errorf("zone %s changed under %d consecutive updates from other nodes; try again", z.name, maxClaimRounds)
}

// waitFor lets the mirror apply changes (it takes writeMu) until cond holds, for
// at most the etcd timeout. The caller holds writeMu, and so does cond when it runs.
func (sh *sharedZones) waitFor(cond func() bool) bool {
	deadline := time.Now().Add(sh.cfg.Timeout)
	for !cond() {
		if time.Now().After(deadline) || sh.ctx.Err() != nil {
			return false
		}
		sh.s.writeMu.Unlock()
		time.Sleep(2 * time.Millisecond)
		sh.s.writeMu.Lock()
	}
	return true
}

// changesFor turns a plan into one etcd change per owner name it touches, each
// expecting the revision the copy has, and the records each name has after it.
func (z *zone) changesFor(dels, adds []dns.RR) ([]etcdstate.Change, map[string][]dns.RR) {
	work, get := z.copyOnTouch()
	for _, x := range dels {
		get(dns.CanonicalName(x.Header().Name)).remove(x)
	}
	for _, x := range adds {
		get(dns.CanonicalName(x.Header().Name)).add(x)
	}
	changes := make([]etcdstate.Change, 0, len(work)+1)
	after := make(map[string][]dns.RR, len(work))
	for owner, n := range work {
		ch := etcdstate.Change{Key: nameKey(z, owner), ExpectRev: z.keyRevs[owner]}
		if !n.empty() {
			ch.Value = encodeName(n)
			after[owner] = n.records()
		} else {
			after[owner] = nil
		}
		changes = append(changes, ch)
	}
	return changes, after
}

// prerequisiteGuards are compares (no write) of the keys of the names the
// prerequisites look at and the update does not write: their check holds only if
// those names are still as the plan saw them.
func (z *zone) prerequisiteGuards(prereq []dns.RR, written map[string][]dns.RR) []etcdstate.Change {
	var out []etcdstate.Change
	seen := map[string]bool{}
	for _, x := range prereq {
		owner := dns.CanonicalName(x.Header().Name)
		if _, ok := written[owner]; ok || seen[owner] {
			continue
		}
		seen[owner] = true
		out = append(out, etcdstate.Change{Key: nameKey(z, owner), ExpectRev: z.keyRevs[owner], Keep: true})
	}
	return out
}
