package embedded

import (
	"github.com/miekg/dns"
)

// storedTypes are the record types updates may add; SOA and NS come from the
// configuration.
var storedTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypePTR: true, dns.TypeSRV: true,
}

// meta types never stored nor deleted by type (RFC 2136 §3.4.1.3).
func isMetaType(t uint16) bool {
	return t == dns.TypeAXFR || t == dns.TypeIXFR || t == dns.TypeMAILA || t == dns.TypeMAILB
}

// plan evaluates an RFC 2136 update against z without changing it: the prerequisites
// (§3.2), the pre-scan of the updates (§3.4.1), then the updates in order on a working
// copy (§3.4.2). It returns the records to delete and to add, or an rcode other than
// NOERROR. It must be called by the only writer of z.
func (z *zone) plan(prereq, updates []dns.RR) (dels, adds []dns.RR, rcode int) {
	if rcode := z.checkPrerequisites(prereq); rcode != dns.RcodeSuccess {
		return nil, nil, rcode
	}
	if rcode := z.prescan(updates); rcode != dns.RcodeSuccess {
		return nil, nil, rcode
	}
	work, get := z.copyOnTouch()
	for _, x := range updates {
		h := x.Header()
		name := dns.CanonicalName(h.Name)
		n := get(name)
		switch h.Class {
		case dns.ClassINET:
			_, hasCNAME := n.sets[dns.TypeCNAME]
			if h.Rrtype == dns.TypeCNAME {
				if name == z.name || len(n.sets) > 1 || (len(n.sets) == 1 && !hasCNAME) {
					continue // a CNAME cannot join other data: ignored, as RFC 2136 says
				}
				delete(n.sets, dns.TypeCNAME) // one CNAME per name: the new one replaces it
			} else if hasCNAME {
				continue
			}
			n.add(dns.Copy(x))
		case dns.ClassANY:
			if h.Rrtype == dns.TypeANY {
				n.sets = map[uint16][]dns.RR{}
			} else {
				delete(n.sets, h.Rrtype)
			}
		case dns.ClassNONE:
			c := dns.Copy(x)
			c.Header().Class = dns.ClassINET
			n.remove(c)
		}
	}
	for name, n := range work {
		d, a := diffNodes(z.nodes[name], n)
		dels, adds = append(dels, d...), append(adds, a...)
	}
	return dels, adds, dns.RcodeSuccess
}

func (z *zone) checkPrerequisites(prereq []dns.RR) int {
	type rrsetKey struct {
		name string
		t    uint16
	}
	want := map[rrsetKey][]dns.RR{} // value-dependent "RRset exists" groups
	for _, x := range prereq {
		h := x.Header()
		if h.Ttl != 0 {
			return dns.RcodeFormatError
		}
		name := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(z.name, name) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassANY, dns.ClassNONE:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			used := z.inUse(name)
			if h.Rrtype != dns.TypeANY {
				used = len(z.rrset(name, h.Rrtype)) > 0
			}
			switch {
			case h.Class == dns.ClassANY && !used && h.Rrtype == dns.TypeANY:
				return dns.RcodeNameError
			case h.Class == dns.ClassANY && !used:
				return dns.RcodeNXRrset
			case h.Class == dns.ClassNONE && used && h.Rrtype == dns.TypeANY:
				return dns.RcodeYXDomain
			case h.Class == dns.ClassNONE && used:
				return dns.RcodeYXRrset
			}
		case dns.ClassINET:
			key := rrsetKey{name, h.Rrtype}
			want[key] = append(want[key], x)
		default:
			return dns.RcodeFormatError
		}
	}
	for key, set := range want {
		if !sameSet(z.rrset(key.name, key.t), set) {
			return dns.RcodeNXRrset
		}
	}
	return dns.RcodeSuccess
}

func (z *zone) prescan(updates []dns.RR) int {
	for _, x := range updates {
		h := x.Header()
		if !dns.IsSubDomain(z.name, dns.CanonicalName(h.Name)) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassINET:
			if h.Rrtype == dns.TypeANY || isMetaType(h.Rrtype) || h.Rdlength == 0 {
				return dns.RcodeFormatError
			}
			if !storedTypes[h.Rrtype] {
				return dns.RcodeRefused // SOA and NS are configured; other types are not served
			}
		case dns.ClassANY:
			if h.Ttl != 0 || h.Rdlength != 0 || isMetaType(h.Rrtype) {
				return dns.RcodeFormatError
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || h.Rrtype == dns.TypeANY || isMetaType(h.Rrtype) {
				return dns.RcodeFormatError
			}
		default:
			return dns.RcodeFormatError
		}
	}
	return dns.RcodeSuccess
}

// sameSet compares two RRsets by data, ignoring TTL and order (RFC 2136 §3.2.3).
func sameSet(have, want []dns.RR) bool {
	contains := func(set []dns.RR, x dns.RR) bool {
		c := dns.Copy(x)
		c.Header().Class = dns.ClassINET
		for _, y := range set {
			if dns.IsDuplicate(y, c) {
				return true
			}
		}
		return false
	}
	for _, x := range want {
		if !contains(have, x) {
			return false
		}
	}
	for _, y := range have {
		if !contains(want, y) {
			return false
		}
	}
	return true
}

// diffNodes lists what turns old into new: records gone or with another TTL are
// deleted, records new or with another TTL are added.
func diffNodes(old, new *node) (dels, adds []dns.RR) {
	has := func(n *node, x dns.RR) bool {
		if n == nil {
			return false
		}
		for _, y := range n.sets[x.Header().Rrtype] {
			if dns.IsDuplicate(x, y) && x.Header().Ttl == y.Header().Ttl {
				return true
			}
		}
		return false
	}
	if old != nil {
		for _, set := range old.sets {
			for _, x := range set {
				if !has(new, x) {
					dels = append(dels, x)
				}
			}
		}
	}
	for _, set := range new.sets {
		for _, x := range set {
			if !has(old, x) {
				adds = append(adds, x)
			}
		}
	}
	return dels, adds
}
