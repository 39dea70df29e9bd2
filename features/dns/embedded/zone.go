package embedded

import (
	"github.com/miekg/dns"
)

// zone is the data of one served zone. Owner names are keyed canonically (lower
// case); the records keep the case they were added with.
type zone struct {
	zoneConfig
	serial uint32
	nodes  map[string]*node
	// ents counts, for each name between a node and the apex, the nodes below it:
	// such a name exists (NODATA, not NXDOMAIN) although it owns no record.
	ents map[string]int
	// With etcd: the mod revision of the zone's serial key (its last change) and
	// of each owner name's key (see shared.go).
	rev     int64
	keyRevs map[string]int64
}

// node is the records of one owner name, by type. A node with no record is removed.
type node struct {
	sets map[uint16][]dns.RR
}

func newZone(c zoneConfig) *zone {
	return &zone{zoneConfig: c, serial: 1, nodes: map[string]*node{}, ents: map[string]int{}, keyRevs: map[string]int64{}}
}

func (n *node) clone() *node {
	c := &node{sets: make(map[uint16][]dns.RR, len(n.sets))}
	for t, set := range n.sets {
		c.sets[t] = append([]dns.RR(nil), set...)
	}
	return c
}

// copyOnTouch returns a getter of z's nodes, each copied on its first use (an empty
// node for a name z lacks), and the map of those copies: a plan changes the copies,
// never the installed nodes, and then compares them with z's.
func (z *zone) copyOnTouch() (map[string]*node, func(name string) *node) {
	work := map[string]*node{}
	return work, func(name string) *node {
		if n, ok := work[name]; ok {
			return n
		}
		n := &node{sets: map[uint16][]dns.RR{}}
		if old := z.nodes[name]; old != nil {
			n = old.clone()
		}
		work[name] = n
		return n
	}
}

func (n *node) empty() bool { return n == nil || len(n.sets) == 0 }

// soa is the zone's SOA record as served now.
func (z *zone) soa() *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: z.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: z.ttl},
		Ns:      z.ns[0],
		Mbox:    z.hostmaster,
		Serial:  z.serial,
		Refresh: 10800,
		Retry:   3600,
		Expire:  604800,
		Minttl:  z.ttl,
	}
}

func (z *zone) nsRecords() []dns.RR {
	out := make([]dns.RR, len(z.ns))
	for i, ns := range z.ns {
		out[i] = &dns.NS{Hdr: dns.RR_Header{Name: z.name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: z.ttl}, Ns: ns}
	}
	return out
}

// rrset returns the records of type t at the canonical name, including the SOA and
// NS records the zone's configuration gives its apex.
func (z *zone) rrset(name string, t uint16) []dns.RR {
	if name == z.name {
		switch t {
		case dns.TypeSOA:
			return []dns.RR{z.soa()}
		case dns.TypeNS:
			return z.nsRecords()
		}
	}
	if n := z.nodes[name]; n != nil {
		return n.sets[t]
	}
	return nil
}

// inUse says whether the canonical name owns any record (RFC 2136 "name is in use").
func (z *zone) inUse(name string) bool {
	return name == z.name || !z.nodes[name].empty()
}

// exists says whether the name exists at all: owns records or has names below it.
func (z *zone) exists(name string) bool {
	return z.inUse(name) || z.ents[name] > 0
}

// setNode installs n (nil or empty to remove) as the node of the canonical name,
// keeping the empty-non-terminal counts of its ancestors right.
func (z *zone) setNode(name string, n *node) {
	had := !z.nodes[name].empty()
	has := !n.empty()
	if has {
		z.nodes[name] = n
	} else {
		delete(z.nodes, name)
	}
	if had == has || name == z.name {
		return
	}
	for parent := parentOf(name); parent != "" && parent != z.name && dns.IsSubDomain(z.name, parent); parent = parentOf(parent) {
		if has {
			z.ents[parent]++
		} else if z.ents[parent]--; z.ents[parent] <= 0 {
			delete(z.ents, parent)
		}
	}
}

// parentOf strips the first label ("" for the root).
func parentOf(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	return name[i:]
}

// applyDiff removes dels and adds adds (replacing a record with the same data, which
// changes its TTL). Live updates and journal replay both go through here, so a
// replayed entry rebuilds exactly what was acknowledged.
func (z *zone) applyDiff(dels, adds []dns.RR) {
	touched := map[string]*node{}
	get := func(x dns.RR) (string, *node) {
		name := dns.CanonicalName(x.Header().Name)
		n, ok := touched[name]
		if !ok {
			if old := z.nodes[name]; old != nil {
				n = old.clone()
			} else {
				n = &node{sets: map[uint16][]dns.RR{}}
			}
			touched[name] = n
		}
		return name, n
	}
	for _, x := range dels {
		_, n := get(x)
		n.remove(x)
	}
	for _, x := range adds {
		_, n := get(x)
		n.add(x)
	}
	for name, n := range touched {
		z.setNode(name, n)
	}
}

// add puts x in its set, replacing a record with the same data.
func (n *node) add(x dns.RR) {
	t := x.Header().Rrtype
	set := n.sets[t]
	for i, old := range set {
		if dns.IsDuplicate(old, x) {
			set[i] = x
			return
		}
	}
	n.sets[t] = append(set, x)
}

// remove drops the record with x's data, if present.
func (n *node) remove(x dns.RR) {
	t := x.Header().Rrtype
	set := n.sets[t]
	for i, old := range set {
		if dns.IsDuplicate(old, x) {
			set = append(set[:i:i], set[i+1:]...)
			break
		}
	}
	if len(set) == 0 {
		delete(n.sets, t)
	} else {
		n.sets[t] = set
	}
}
