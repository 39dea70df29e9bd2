package orchestrate

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// dnsRecord is one record a host owns: an A record on the domain's DNS proxy or a PTR
// on the subnet's.
type dnsRecord struct {
	proxy string
	typ   string // "A" or "PTR"
	name  string // the host name (the fqdn the proxy is given, also for PTR)
	value string // the IPv4 address (A) or the reverse name (PTR)
}

// dnsRecords are the records t should have.
func dnsRecords(t *target) []dnsRecord {
	ip := net.ParseIP(t.host.IP).To4()
	if ip == nil || t.host.Name == "" {
		return nil
	}
	var out []dnsRecord
	if t.dnsProxy != "" {
		out = append(out, dnsRecord{proxy: t.dnsProxy, typ: "A", name: t.host.Name, value: ip.String()})
	}
	if t.reverseDNSProxy != "" {
		out = append(out, dnsRecord{proxy: t.reverseDNSProxy, typ: "PTR", name: t.host.Name, value: reverseName(ip)})
	}
	return out
}

// reverseName is the in-addr.arpa name of an IPv4 address.
func reverseName(ip net.IP) string {
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa", ip[3], ip[2], ip[1], ip[0])
}

func (r dnsRecord) label() string {
	if r.typ == "PTR" {
		return "Reverse IPv4 DNS record"
	}
	return "IPv4 DNS record"
}

// set is Foreman's set_dns_record: POST /dns/ (a record with the same value is a 200).
func (o *Orchestrator) setDNS(ctx context.Context, r dnsRecord) error {
	_, err := o.proxies.Do(ctx, http.MethodPost, r.proxy, "/dns/",
		url.Values{"fqdn": {r.name}, "value": {r.value}, "type": {r.typ}})
	return err
}

// delDNS is del_dns_record: DELETE /dns/<name>/A or /dns/<reverse name>; a 404 is done.
func (o *Orchestrator) delDNS(ctx context.Context, r dnsRecord) error {
	path := "/dns/" + url.PathEscape(r.name) + "/A"
	if r.typ == "PTR" {
		path = "/dns/" + url.PathEscape(r.value)
	}
	_, err := o.proxies.Do(ctx, http.MethodDelete, r.proxy, path, nil)
	return notFoundIsDone(err)
}

// queueSetDNS creates r; when it was already there (present) the undo leaves it.
func (o *Orchestrator) queueSetDNS(q *queue, priority int, r dnsRecord, present bool) {
	undo := func(ctx context.Context) error { return o.delDNS(ctx, r) }
	if present {
		undo = nil
	}
	q.add(fmt.Sprintf("Create %s for %s", r.label(), r.name), priority,
		func(ctx context.Context) error { return o.setDNS(ctx, r) }, undo)
}

func (o *Orchestrator) queueDelDNS(q *queue, priority int, r dnsRecord) {
	q.add(fmt.Sprintf("Remove %s for %s", r.label(), r.name), priority,
		func(ctx context.Context) error { return o.delDNS(ctx, r) },
		func(ctx context.Context) error { return o.setDNS(ctx, r) })
}

// dnsConflicts resolves the host's name and address through the core's resolver (the
// DNS the proxies manage must be what it asks) and returns the records in the way:
// other addresses for the name, other names for the address. Records of old (the host
// before an update) are not conflicts: the update removes them first. A failed lookup
// is no conflict: the proxy still refuses a real one with a 409 during the run.
// present gets the wanted records that are already there: the create of such a record
// is a no-op on the proxy, so its undo must not delete what the run did not make.
func (o *Orchestrator) dnsConflicts(ctx context.Context, want []dnsRecord, old []dnsRecord, present map[dnsRecord]bool) []dnsRecord {
	var found []dnsRecord
	owned := func(r dnsRecord) bool {
		for _, o := range old {
			if o.typ == r.typ && strings.EqualFold(o.name, r.name) && o.value == r.value {
				return true
			}
		}
		return false
	}
	for _, r := range want {
		switch r.typ {
		case "A":
			ips, err := o.resolver.LookupIP(ctx, "ip4", r.name+".")
			if err != nil {
				continue
			}
			for _, ip := range ips {
				other := dnsRecord{proxy: r.proxy, typ: "A", name: r.name, value: ip.String()}
				switch {
				case other.value == r.value:
					present[r] = true
				case !owned(other):
					found = append(found, other)
				}
			}
		case "PTR":
			names, err := o.resolver.LookupAddr(ctx, reverseToIP(r.value))
			if err != nil {
				continue
			}
			for _, n := range names {
				other := dnsRecord{proxy: r.proxy, typ: "PTR", name: strings.TrimSuffix(n, "."), value: r.value}
				switch {
				case strings.EqualFold(other.name, r.name):
					present[r] = true
				case !owned(other):
					found = append(found, other)
				}
			}
		}
	}
	return found
}

// reverseToIP turns "4.3.2.1.in-addr.arpa" back into "1.2.3.4".
func reverseToIP(rev string) string {
	p := strings.Split(strings.TrimSuffix(rev, ".in-addr.arpa"), ".")
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
	return strings.Join(p, ".")
}

func dnsConflictMessage(r dnsRecord) string {
	if r.typ == "PTR" {
		return fmt.Sprintf("DNS PTR Records %s/%s already exists", r.value, r.name)
	}
	return fmt.Sprintf("DNS A Records %s/%s already exists", r.name, r.value)
}
