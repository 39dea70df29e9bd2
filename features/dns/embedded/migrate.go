package embedded

import (
	"context"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// Clusters written by earlier versions hold each zone in one key, dns/zones/<zone>.
// A node that sees such a key (at start, or later from a node not yet upgraded)
// serves the zone from it and migrates it: it writes the per-name keys the old
// key's records make (in transactions of up to 128 keys: a big zone does not fit in
// one), then deletes the old key in a transaction that succeeds only if the old key
// is still at the revision it copied and rewrites the serial key (so the serial
// grows). Until then the per-name keys go to a shadow that is not served, and
// updates of the zone wait (up to :etcd_timeout:). Two nodes migrating at once
// write the same values; one deletes the old key, the other sees it gone. If the
// old key changed meanwhile, the delete fails and the migration runs again from
// the new value.

// legacyZone is a zone whose old-shape key is in the copy.
type legacyZone struct {
	rev    int64
	rrs    []dns.RR // the old key's records, served meanwhile
	shadow *zone    // the per-name keys, served once the old key is gone
}

// applyLegacy installs a change of z's old-shape key; true if the served records
// changed. The caller holds writeMu.
func (sh *sharedZones) applyLegacy(z *zone, ev etcdstate.Event) bool {
	s := sh.s
	lz := sh.legacy[z.name]
	if ev.Deleted {
		if lz == nil {
			return false
		}
		// Migrated: serve the per-name keys.
		delete(sh.legacy, z.name)
		s.mu.Lock()
		z.nodes, z.ents, z.keyRevs = lz.shadow.nodes, lz.shadow.ents, lz.shadow.keyRevs
		sh.refreshSerial(z)
		s.mu.Unlock()
		return true
	}
	if lz != nil && ev.Revision <= lz.rev {
		return false
	}
	rrs, err := decodeName(ev.Value)
	if err != nil {
		s.log.Errorf("dns_embedded: etcd key %s at revision %d not applied: %v", ev.Key, ev.Revision, err)
		return false
	}
	served := newZone(z.zoneConfig)
	served.applyDiff(nil, rrs)
	s.mu.Lock()
	if lz == nil {
		// Keep the per-name state aside while the old key rules.
		shadow := newZone(z.zoneConfig)
		shadow.nodes, shadow.ents, shadow.keyRevs = z.nodes, z.ents, z.keyRevs
		lz = &legacyZone{shadow: shadow}
		sh.legacy[z.name] = lz
	}
	lz.rev, lz.rrs = ev.Revision, rrs
	z.nodes, z.ents, z.keyRevs = served.nodes, served.ents, map[string]int64{}
	sh.refreshSerial(z)
	s.mu.Unlock()
	if !sh.migrating[z.name] && !sh.closed {
		sh.migrating[z.name] = true
		sh.goRun(func() { sh.migrate(z) })
	}
	return true
}

// migrate moves z to one key per name; it ends once the old key is gone.
func (sh *sharedZones) migrate(z *zone) {
	log := sh.s.log
	for sh.ctx.Err() == nil {
		done, err := sh.migrateOnce(z)
		if done {
			return
		}
		if err != nil {
			log.Warnf("dns_embedded: migrating zone %s to one etcd key per name (retried): %v", z.name, err)
			sleep(sh.ctx, time.Second)
		}
	}
}

// migrateOnce writes the per-name keys of the old key as the copy holds it and
// then deletes the old key if unchanged. done when the old key is gone from the copy.
func (sh *sharedZones) migrateOnce(z *zone) (done bool, err error) {
	conn := sh.conn.Load()
	if conn == nil { // started from the saved copy: not connected yet
		sleep(sh.ctx, 100*time.Millisecond)
		return false, nil
	}
	s := sh.s
	s.writeMu.Lock()
	lz := sh.legacy[z.name]
	if lz == nil {
		delete(sh.migrating, z.name)
		s.writeMu.Unlock()
		return true, nil
	}
	oldRev, records, changes := lz.rev, len(lz.rrs), lz.changes()
	s.writeMu.Unlock()

	for len(changes) > 0 {
		batch := changes[:min(len(changes), etcdstate.MaxChanges)]
		changes = changes[len(batch):]
		if _, _, err := conn.cli.ClaimAll(sh.ctx, batch); err != nil {
			return false, err
		}
	}
	won, rev, err := conn.cli.ClaimAll(sh.ctx, []etcdstate.Change{
		{Key: legacyPrefix + z.name, ExpectRev: oldRev},
		{Key: serialPrefix + z.name, ExpectRev: etcdstate.AnyRevision, Value: []byte(z.name)},
	})
	if err != nil {
		return false, err
	}
	if won {
		sh.s.log.Infof("dns_embedded: zone %s migrated from one etcd key to one key per name (%d records)", z.name, records)
	}
	// Won or not (another node migrated, or the old key changed), go on from the
	// copy once it holds the outcome.
	for conn.mirror.Revision() < rev && sh.ctx.Err() == nil {
		sleep(sh.ctx, 5*time.Millisecond)
	}
	return false, nil
}

// changes are the writes that make the per-name keys hold the old key's records:
// names whose key differs are put, names the old key lacks are deleted. Every
// writer of these keys waits for the migration, so no compare is needed.
func (lz *legacyZone) changes() []etcdstate.Change {
	want := newZone(lz.shadow.zoneConfig)
	inside := make([]dns.RR, 0, len(lz.rrs))
	for _, x := range lz.rrs {
		if dns.IsSubDomain(want.name, dns.CanonicalName(x.Header().Name)) {
			inside = append(inside, x)
		}
	}
	want.applyDiff(nil, inside)
	var out []etcdstate.Change
	for owner, n := range want.nodes {
		if have := lz.shadow.nodes[owner]; have == nil || !slices.Equal(have.lines(), n.lines()) {
			out = append(out, etcdstate.Change{Key: nameKey(want, owner), ExpectRev: etcdstate.AnyRevision, Value: encodeName(n)})
		}
	}
	for owner := range lz.shadow.nodes {
		if want.nodes[owner] == nil {
			out = append(out, etcdstate.Change{Key: nameKey(want, owner), ExpectRev: etcdstate.AnyRevision})
		}
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
