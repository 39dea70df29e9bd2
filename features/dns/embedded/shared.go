package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// With :state_backend: etcd every zone's records live in one etcd key,
// <prefix>dns/zones/<zone>, holding the whole record list. Every node serves from
// its watched copy (etcdstate.Mirror); an update is planned against that copy and
// written with a claim on the zone key at the revision the plan saw, so RFC 2136
// prerequisites hold across nodes: of two nodes changing one zone at once, one
// wins and the other plans again on the winner's records.
//
// The SOA serial is the etcd mod revision of the zone key (its last change), so
// every node serves the same serial for the same records without a counter of
// its own, and it only grows. One key per zone keeps each update one transaction;
// the price is that an update rewrites the zone's whole record list (fine for the
// host zones Foreman manages; etcd refuses requests above 1.5 MiB, about 20,000
// records).
const zonesPrefix = "dns/zones/"

// maxClaimRounds bounds how often one update replans after losing to another node.
const maxClaimRounds = 20

type zoneValue struct {
	Records []string `json:"records"`
}

// sharedZones is the etcd side of a Store.
type sharedZones struct {
	s     *Store
	cfg   etcdstate.Config
	cache string // with :state_dir:, the file keeping this node's copy (see saveCache)
	conn  atomic.Pointer[connection]
	stop  context.CancelFunc // ends connectLater
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
	sh := &sharedZones{s: s, cfg: cfg.state}
	s.shared = sh
	cached := false
	if cfg.stateDir != "" {
		if err := os.MkdirAll(cfg.stateDir, 0o750); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
		sh.cache = filepath.Join(cfg.stateDir, etcdCopyFile)
		var err error
		if cached, err = sh.loadCache(); err != nil {
			return nil, err
		}
	}
	err := sh.connect(context.Background())
	if err == nil {
		return s, nil
	}
	if !cached || !errors.Is(err, etcdstate.ErrUnavailable) {
		return nil, err
	}
	log.Errorf("dns_embedded: serving the copy in %s without etcd; updates are refused until the cluster answers: %v", sh.cache, err)
	ctx, cancel := context.WithCancel(context.Background())
	sh.stop = cancel
	go sh.connectLater(ctx)
	return s, nil
}

// connect opens the client and starts the watched copy.
func (sh *sharedZones) connect(ctx context.Context) error {
	cli, err := etcdstate.Open(ctx, sh.cfg)
	if err != nil {
		return err
	}
	mirror := cli.NewMirror(zonesPrefix, sh.apply)
	if err := mirror.Start(ctx); err != nil {
		cli.Close()
		return err
	}
	sh.conn.Store(&connection{cli: cli, mirror: mirror})
	return nil
}

// connectLater retries connect every 2 s until it works or the store closes.
func (sh *sharedZones) connectLater(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if err := sh.connect(ctx); err == nil {
			if ctx.Err() != nil { // closed meanwhile
				if c := sh.conn.Swap(nil); c != nil {
					c.mirror.Stop()
					c.cli.Close()
				}
				return
			}
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
	if sh.stop != nil {
		sh.stop()
	}
	c := sh.conn.Swap(nil)
	if c == nil {
		return nil
	}
	c.mirror.Stop()
	return c.cli.Close()
}

// apply installs zones as etcd holds them now (the mirror's goroutine).
func (sh *sharedZones) apply(events []etcdstate.Event) {
	s := sh.s
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	changed := false
	for _, ev := range events {
		z := s.zones[strings.TrimPrefix(ev.Key, zonesPrefix)]
		if z == nil || ev.Revision <= z.rev {
			continue // a zone this node does not serve, or this node's own write
		}
		if err := sh.install(z, ev.Value, ev.Revision, ev.Deleted); err != nil {
			s.log.Errorf("dns_embedded: etcd key %s at revision %d not applied: %v", ev.Key, ev.Revision, err)
			continue
		}
		changed = true
	}
	if changed {
		sh.saveCache()
		s.changed()
	}
}

// install replaces z's records with value (none when deleted) as of rev. The
// caller holds writeMu.
func (sh *sharedZones) install(z *zone, value []byte, rev int64, deleted bool) error {
	var adds []dns.RR
	if !deleted {
		var v zoneValue
		if err := json.Unmarshal(value, &v); err != nil {
			return err
		}
		var err error
		if adds, err = parseRecords(v.Records); err != nil {
			return err
		}
	}
	fresh := newZone(z.zoneConfig)
	fresh.applyDiff(nil, adds)
	sh.s.mu.Lock()
	z.nodes, z.ents = fresh.nodes, fresh.ents
	z.serial, z.rev = serialOf(rev), rev
	sh.s.mu.Unlock()
	return nil
}

// serialOf is the SOA serial of a zone last changed at etcd revision rev (RFC 1982
// arithmetic makes the wrap after 2^32 revisions harmless).
func serialOf(rev int64) uint32 {
	if s := uint32(rev); s != 0 {
		return s
	}
	return 1
}

// update plans the change on the local copy and claims the zone key with the
// result. It returns an error wrapping etcdstate.ErrUnavailable when the cluster
// does not answer. The caller holds writeMu.
func (sh *sharedZones) update(z *zone, prereq, updates []dns.RR) (int, error) {
	s := sh.s
	conn := sh.conn.Load()
	if conn == nil {
		return dns.RcodeServerFailure, fmt.Errorf("%w: this node started while the cluster did not answer and is not connected yet; records are served from its copy", etcdstate.ErrUnavailable)
	}
	for round := 0; round < maxClaimRounds; round++ {
		if !conn.mirror.Reachable() {
			return dns.RcodeServerFailure, fmt.Errorf("%w: the cluster did not answer this node's last read; records are served from its copy, changes wait for quorum", etcdstate.ErrUnavailable)
		}
		dels, adds, rcode := z.plan(prereq, updates)
		if rcode != dns.RcodeSuccess || len(dels)+len(adds) == 0 {
			return rcode, nil
		}
		value, err := json.Marshal(zoneValue{Records: recordsAfter(z, dels, adds)})
		if err != nil {
			return dns.RcodeServerFailure, err
		}
		res, err := conn.cli.Claim(context.Background(), zonesPrefix+z.name, z.rev, value)
		if err != nil {
			s.log.Errorf("dns_embedded: update of %s not applied: %v", z.name, err)
			return dns.RcodeServerFailure, err
		}
		if res.Won {
			s.mu.Lock()
			z.applyDiff(dels, adds)
			z.serial, z.rev = serialOf(res.Revision), res.Revision
			s.mu.Unlock()
			sh.saveCache()
			s.changed()
			return dns.RcodeSuccess, nil
		}
		// Another node changed the zone after our copy: take its records, plan again.
		if err := sh.install(z, res.Value, res.Revision, res.Revision == 0); err != nil {
			return dns.RcodeServerFailure, fmt.Errorf("zone %s in etcd: %w", z.name, err)
		}
		s.changed()
	}
	return dns.RcodeServerFailure, fmt.Errorf("zone %s changed under %d consecutive updates from other nodes; try again", z.name, maxClaimRounds)
}

// recordsAfter lists z's records with dels removed and adds added, sorted.
func recordsAfter(z *zone, dels, adds []dns.RR) []string {
	set := map[string]bool{}
	for _, n := range z.nodes {
		for _, rrs := range n.sets {
			for _, x := range rrs {
				set[x.String()] = true
			}
		}
	}
	for _, x := range dels {
		delete(set, x.String())
	}
	for _, x := range adds {
		set[x.String()] = true
	}
	out := make([]string, 0, len(set))
	for line := range set {
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}
