package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// etcdCopyFile, in :state_dir:, is this node's copy of the zones on etcd: every
// owner name's records with its key's revision, and each zone's serial revision.
// It lets a node that starts while the cluster has no quorum answer queries; once
// connected, the first read brings only the names changed since and drops the
// names deleted since (reconcile).
const etcdCopyFile = "etcd-copy.json"

// saveDelay gathers the changes of a burst into one write of the copy: a zone of
// 20,000 records is too big to rewrite on each change, and the copy only needs to
// be recent (acknowledged changes are in etcd, and the first read after
// connecting brings the rest).
const saveDelay = 500 * time.Millisecond

const copyVersion = 2

type copyFile struct {
	Version int                 `json:"version"`
	Zones   map[string]copyZone `json:"zones"`
}

type copyZone struct {
	SerialRev int64               `json:"serial_rev"`
	Names     map[string]copyName `json:"names"`
}

type copyName struct {
	Rev     int64    `json:"rev"`
	Records []string `json:"records"`
}

// oldCopyZone is a zone in the copy of earlier versions (one key per zone).
type oldCopyZone struct {
	Rev     int64    `json:"rev"`
	Records []string `json:"records"`
}

// saveLater asks the saver to write the copy soon.
func (sh *sharedZones) saveLater() {
	if sh.cache == "" {
		return
	}
	select {
	case sh.dirty <- struct{}{}:
	default:
	}
}

// saver writes the copy saveDelay after a change (close writes the last one).
func (sh *sharedZones) saver() {
	for {
		select {
		case <-sh.ctx.Done():
			return
		case <-sh.dirty:
		}
		sleep(sh.ctx, saveDelay)
		sh.saveNow()
	}
}

// saveNow writes the copy. A failure only costs the ability to start without
// quorum, so it is logged. writeMu is held only to take the zones' node maps:
// installed nodes are never changed (a change installs a new one), so they are
// turned into lines outside it.
func (sh *sharedZones) saveNow() {
	if sh.cache == "" || !sh.haveCopy.Load() { // never an empty copy of zones it did not load
		return
	}
	type zoneState struct {
		rev   int64
		nodes map[string]*node
		revs  map[string]int64
	}
	sh.s.writeMu.Lock()
	taken := make(map[string]zoneState, len(sh.s.zones))
	for name, z := range sh.s.zones {
		// Names served from an old-shape key have no key revision (0): the first
		// read after connecting replaces them.
		taken[name] = zoneState{rev: z.rev, nodes: maps.Clone(z.nodes), revs: maps.Clone(z.keyRevs)}
	}
	sh.s.writeMu.Unlock()
	out := copyFile{Version: copyVersion, Zones: map[string]copyZone{}}
	for name, zs := range taken {
		cz := copyZone{SerialRev: zs.rev, Names: make(map[string]copyName, len(zs.nodes))}
		for owner, n := range zs.nodes {
			cz.Names[owner] = copyName{Rev: zs.revs[owner], Records: n.lines()}
		}
		out.Zones[name] = cz
	}
	data, err := json.Marshal(out)
	if err == nil {
		err = durable.WriteFile(sh.cache, data, 0o640)
	}
	if err != nil {
		sh.s.log.Warnf("dns_embedded: keeping the copy of the zones in %s: %v", sh.cache, err)
	}
}

// loadCache installs the saved copy; false when there is none.
func (sh *sharedZones) loadCache() (bool, error) {
	data, err := os.ReadFile(sh.cache)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var saved copyFile
	if err := json.Unmarshal(data, &saved); err != nil || saved.Version != copyVersion {
		return sh.loadOldCache(data)
	}
	for name, cz := range saved.Zones {
		z := sh.s.zones[name]
		if z == nil {
			continue
		}
		for owner, cn := range cz.Names {
			rrs, err := parseRecords(cn.Records)
			if err != nil {
				return false, fmt.Errorf("%s, zone %s: %w", sh.cache, name, err)
			}
			z.setName(owner, rrs, cn.Rev)
		}
		z.rev = cz.SerialRev
		z.serial = serialOf(z.rev)
	}
	return true, nil
}

// loadOldCache installs a copy written by an earlier version: records without key
// revisions, replaced by the first read after connecting.
func (sh *sharedZones) loadOldCache(data []byte) (bool, error) {
	var saved map[string]oldCopyZone
	if err := json.Unmarshal(data, &saved); err != nil {
		return false, fmt.Errorf("%s: %w", sh.cache, err)
	}
	for name, cz := range saved {
		z := sh.s.zones[name]
		if z == nil {
			continue
		}
		rrs, err := parseRecords(cz.Records)
		if err != nil {
			return false, fmt.Errorf("%s, zone %s: %w", sh.cache, name, err)
		}
		z.applyDiff(nil, rrs)
		z.serial = serialOf(cz.Rev)
	}
	return true, nil
}

// reconcile drops, after the first read of a node started from its saved copy,
// the names whose keys that read did not find: they were deleted meanwhile (the
// watched copy learns deletes only of keys it has read).
func (sh *sharedZones) reconcile() {
	s := sh.s
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if sh.seen == nil {
		return
	}
	dropped := 0
	s.mu.Lock()
	for _, served := range s.zones {
		z := sh.namesOf(served) // the shadow while an old-shape key is served
		for owner := range z.nodes {
			if !sh.seen[nameKey(z, owner)] {
				z.setName(owner, nil, 0)
				dropped++
			}
		}
	}
	s.mu.Unlock()
	sh.seen = nil
	if dropped > 0 {
		s.log.Infof("dns_embedded: %d names of the saved copy are no longer in etcd; dropped", dropped)
		sh.saveLater()
		s.changed()
	}
}
