package embedded

import (
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

// Store is every zone's records, durable in the state directory. Readers (queries)
// share mu; writers are serialised by writeMu, make the change durable, and only then
// hold mu exclusively for the moment it takes to apply it.
type Store struct {
	mu      sync.RWMutex
	writeMu sync.Mutex
	zones   map[string]*zone // served, by canonical name
	dormant map[string]*zone // kept in the state but no longer configured
	journal *journal
	changed func() // called after every applied change (drops cached answers)
	log     *logrus.Entry
	shared  *sharedZones // set with :state_backend: etcd (journal is nil then)
}

// openStore loads the state directory and compacts it.
func openStore(cfg config, log *logrus.Entry) (*Store, error) {
	if cfg.state.Etcd() {
		return openSharedStore(cfg, log)
	}
	j, snap, entries, err := openJournal(cfg.stateDir)
	if err != nil {
		return nil, err
	}
	s := &Store{zones: map[string]*zone{}, dormant: map[string]*zone{}, journal: j, changed: func() {}, log: log}
	for _, zc := range cfg.zones {
		s.zones[zc.name] = newZone(zc)
	}
	if err := s.load(snap, entries); err != nil {
		j.close()
		return nil, fmt.Errorf("state dir %s: %w", cfg.stateDir, err)
	}
	for name := range s.dormant {
		log.Warnf("dns_embedded: %s holds records of zone %s, which is no longer configured; they are kept but not served", cfg.stateDir, name)
	}
	if err := j.compact(s.snapshot()); err != nil {
		j.close()
		return nil, fmt.Errorf("state dir %s: %w", cfg.stateDir, err)
	}
	return s, nil
}

// zoneForState returns the zone state records belong to, creating a dormant one.
func (s *Store) zoneForState(name string) *zone {
	name = dns.CanonicalName(name)
	if z := s.zones[name]; z != nil {
		return z
	}
	if z := s.dormant[name]; z != nil {
		return z
	}
	z := newZone(zoneConfig{name: name, ns: []string{"ns1." + name}, hostmaster: "hostmaster." + name, ttl: 3600})
	s.dormant[name] = z
	return z
}

func (s *Store) load(snap snapshot, entries []entry) error {
	for name, sz := range snap.Zones {
		z := s.zoneForState(name)
		adds, err := parseRecords(sz.Records)
		if err != nil {
			return fmt.Errorf("snapshot zone %s: %w", name, err)
		}
		z.applyDiff(nil, adds)
		z.serial = max(z.serial, sz.Serial)
	}
	for i, e := range entries {
		z := s.zoneForState(e.Zone)
		dels, err := parseRecords(e.Del)
		if err == nil {
			var adds []dns.RR
			adds, err = parseRecords(e.Add)
			z.applyDiff(dels, adds)
		}
		if err != nil {
			return fmt.Errorf("journal entry %d (zone %s): %w", i+1, e.Zone, err)
		}
		if serialAfter(e.Serial, z.serial) {
			z.serial = e.Serial
		}
	}
	return nil
}

// serialAfter compares SOA serials in RFC 1982 arithmetic.
func serialAfter(a, b uint32) bool { return a != b && a-b < 1<<31 }

func parseRecords(lines []string) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(lines))
	for _, line := range lines {
		x, err := dns.NewRR(line)
		if err != nil || x == nil {
			return nil, fmt.Errorf("record %q: %w", line, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// snapshot is the whole state, served and dormant zones alike.
func (s *Store) snapshot() snapshot {
	snap := snapshot{Version: 1, Zones: map[string]snapshotZone{}}
	for _, zones := range []map[string]*zone{s.zones, s.dormant} {
		for name, z := range zones {
			var lines []string
			for _, n := range z.nodes {
				for _, set := range n.sets {
					for _, x := range set {
						lines = append(lines, x.String())
					}
				}
			}
			sort.Strings(lines)
			snap.Zones[name] = snapshotZone{Serial: z.serial, Records: lines}
		}
	}
	return snap
}

// Close releases the state directory.
func (s *Store) Close() error {
	if s.shared != nil {
		return s.shared.close() // stops the mirror, which takes writeMu itself
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.journal.close()
}

// zoneFor returns the served zone holding the canonical name, the closest enclosing
// one when zones nest, or nil.
func (s *Store) zoneFor(name string) *zone {
	for n := name; n != ""; n = parentOf(n) {
		if z := s.zones[n]; z != nil {
			return z
		}
	}
	return nil
}

// ZoneNames lists the served zones, sorted.
func (s *Store) ZoneNames() []string {
	out := make([]string, 0, len(s.zones))
	for name := range s.zones {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Update applies an RFC 2136 update to zoneName and returns the rcode. A change is in
// the journal, on disk, before it is visible or acknowledged.
func (s *Store) Update(zoneName string, prereq, updates []dns.RR) int {
	rcode, _ := s.update(zoneName, prereq, updates)
	return rcode
}

// update is Update with the reason of a SERVFAIL (etcdstate.ErrUnavailable
// without quorum), for the API.
func (s *Store) update(zoneName string, prereq, updates []dns.RR) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	z := s.zones[dns.CanonicalName(zoneName)]
	if z == nil {
		return dns.RcodeNotAuth, nil
	}
	if s.shared != nil {
		return s.shared.update(z, prereq, updates)
	}
	dels, adds, rcode := z.plan(prereq, updates)
	if rcode != dns.RcodeSuccess || len(dels)+len(adds) == 0 {
		return rcode, nil
	}
	serial := z.serial + 1
	if serial == 0 {
		serial = 1
	}
	e := entry{Zone: z.name, Serial: serial}
	for _, x := range dels {
		e.Del = append(e.Del, x.String())
	}
	for _, x := range adds {
		e.Add = append(e.Add, x.String())
	}
	if err := s.journal.append(e); err != nil {
		s.log.Errorf("dns_embedded: update of %s not applied: %v", z.name, err)
		return dns.RcodeServerFailure, err
	}
	s.mu.Lock()
	z.applyDiff(dels, adds)
	z.serial = serial
	s.mu.Unlock()
	s.changed()
	return dns.RcodeSuccess, nil
}
