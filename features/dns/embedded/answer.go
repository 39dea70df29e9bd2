package embedded

import (
	"sort"

	"github.com/miekg/dns"
)

// maxCNAMEHops bounds how far an answer follows CNAMEs inside a zone.
const maxCNAMEHops = 8

// answer fills resp (already a reply to the query) with the authoritative answer to q:
// the records, NODATA or NXDOMAIN with the SOA, or REFUSED outside our zones. Answer
// records take the owner name as the question spelt it.
func (s *Store) answer(q dns.Question, resp *dns.Msg) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Rcode = dns.RcodeRefused
		return
	}
	name := dns.CanonicalName(q.Name)
	z := s.zoneFor(name)
	if z == nil || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		resp.Rcode = dns.RcodeRefused // not ours; and we offer no zone transfers
		return
	}
	resp.Authoritative = true
	owner := q.Name
	for hop := 0; hop <= maxCNAMEHops; hop++ {
		if found := z.records(name, q.Qtype); len(found) > 0 {
			resp.Answer = append(resp.Answer, withOwner(found, owner)...)
			s.addGlue(resp, found)
			return
		}
		cname := z.rrset(name, dns.TypeCNAME)
		if len(cname) == 0 {
			if !z.exists(name) {
				resp.Rcode = dns.RcodeNameError
			}
			soa := z.soa()
			soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
			resp.Ns = append(resp.Ns, soa)
			return
		}
		resp.Answer = append(resp.Answer, withOwner(cname, owner)...)
		owner = cname[0].(*dns.CNAME).Target
		name = dns.CanonicalName(owner)
		if s.zoneFor(name) != z {
			return // the target is another zone's business: the resolver follows it
		}
	}
}

// records returns the records answering qtype at the canonical name (every type for ANY).
func (z *zone) records(name string, qtype uint16) []dns.RR {
	if qtype != dns.TypeANY {
		return z.rrset(name, qtype)
	}
	var types []uint16
	if name == z.name {
		types = append(types, dns.TypeSOA, dns.TypeNS)
	}
	if n := z.nodes[name]; n != nil {
		for t := range n.sets {
			types = append(types, t)
		}
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	var out []dns.RR
	for _, t := range types {
		out = append(out, z.rrset(name, t)...)
	}
	return out
}

// withOwner returns the records named owner (the question's spelling).
func withOwner(set []dns.RR, owner string) []dns.RR {
	out := make([]dns.RR, len(set))
	for i, x := range set {
		if x.Header().Name == owner {
			out[i] = x
			continue
		}
		c := dns.Copy(x)
		c.Header().Name = owner
		out[i] = c
	}
	return out
}

// addGlue adds the addresses of NS and SRV targets we serve, as BIND does, so a
// client needs no second query.
func (s *Store) addGlue(resp *dns.Msg, found []dns.RR) {
	seen := map[string]bool{}
	for _, x := range found {
		var target string
		switch v := x.(type) {
		case *dns.NS:
			target = v.Ns
		case *dns.SRV:
			target = v.Target
		default:
			continue
		}
		name := dns.CanonicalName(target)
		if seen[name] {
			continue
		}
		seen[name] = true
		if z := s.zoneFor(name); z != nil {
			resp.Extra = append(resp.Extra, z.rrset(name, dns.TypeA)...)
			resp.Extra = append(resp.Extra, z.rrset(name, dns.TypeAAAA)...)
		}
	}
}
