package nsupdate

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// zoneCache remembers, for a short while, which zone a name belongs to as learnt from
// the SOA of negative answers: the conflict check that precedes a create already
// tells the zone, which saves the separate SOA query per record.
type zoneCache struct {
	mu      sync.Mutex
	entries map[string]zoneEntry
}

type zoneEntry struct {
	zone    string
	expires time.Time
}

const (
	zoneCacheTTL  = 30 * time.Second
	zoneCacheSize = 4096
)

func (c *zoneCache) get(name string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[strings.ToLower(name)]
	if !ok || time.Now().After(e.expires) {
		return "", false
	}
	return e.zone, true
}

func (c *zoneCache) put(name, zone string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= zoneCacheSize {
		c.entries = make(map[string]zoneEntry) // a crude bound: forget everything
	}
	c.entries[strings.ToLower(name)] = zoneEntry{zone: zone, expires: time.Now().Add(zoneCacheTTL)}
}

// learn records the zone a reply about name reveals: an SOA owning name (the apex) in
// the answer, or the SOA of the authority section of a negative answer.
func (c *zoneCache) learn(name string, reply *dns.Msg) (string, bool) {
	zone, ok := zoneFromReply(name, reply)
	if ok {
		c.put(name, zone)
	}
	return zone, ok
}

func zoneFromReply(name string, reply *dns.Msg) (string, bool) {
	for _, x := range reply.Answer {
		if soa, ok := x.(*dns.SOA); ok && dns.CanonicalName(soa.Hdr.Name) == dns.CanonicalName(name) {
			return soa.Hdr.Name, true
		}
	}
	for _, x := range reply.Ns {
		if soa, ok := x.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) {
			return soa.Hdr.Name, true
		}
	}
	return "", false
}

// zoneOf finds the zone holding name by asking the server for name's SOA.
func (p *Provider) zoneOf(ctx context.Context, name string) (string, error) {
	if zone, ok := p.zones.get(name); ok {
		return zone, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeSOA)
	reply, err := p.exchange(ctx, m)
	if err != nil {
		return "", fmt.Errorf("finding the zone of %s at %s: %w", name, p.server, err)
	}
	if reply.Rcode != dns.RcodeSuccess && reply.Rcode != dns.RcodeNameError {
		return "", fmt.Errorf("finding the zone of %s at %s: the server answered %s", name, p.server, dns.RcodeToString[reply.Rcode])
	}
	zone, ok := p.zones.learn(name, reply)
	if !ok {
		return "", fmt.Errorf("finding the zone of %s at %s: no SOA in the answer; is the server authoritative for it?", name, p.server)
	}
	return zone, nil
}
