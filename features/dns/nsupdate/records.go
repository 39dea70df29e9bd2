package nsupdate

import (
	"context"
	"fmt"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
)

// Lookup asks the server for the records of type t at name (the conflict check). It
// queries dns_server directly, never the system resolver, so it sees what the
// updates will change.
func (p *Provider) Lookup(ctx context.Context, name string, t rr.Type) ([]rr.Record, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t.Code())
	reply, err := p.exchange(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("DNS query for %s %s at %s: %w", name, t, p.server, err)
	}
	if reply.Rcode != dns.RcodeSuccess && reply.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("DNS query for %s %s at %s: the server answered %s", name, t, p.server, dns.RcodeToString[reply.Rcode])
	}
	p.zones.learn(name, reply)
	var out []rr.Record
	for _, x := range reply.Answer {
		rec, ok := rr.FromRR(x)
		if !ok || !rr.SameName(rec.Name, name) || (rec.Type != t && rec.Type != rr.CNAME) {
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

// Create sends a signed update adding rec to its zone.
func (p *Provider) Create(ctx context.Context, rec rr.Record) error {
	zone, err := p.zoneOf(ctx, rec.Name)
	if err != nil {
		return err
	}
	m, err := rr.AddMessage(zone, rec)
	if err != nil {
		return err
	}
	return p.submit(ctx, &change{zone: zone, name: dns.CanonicalName(rec.Name), prereq: m.Answer, updates: m.Ns})
}

// Delete sends a signed update removing the records of type t at name.
func (p *Provider) Delete(ctx context.Context, name string, t rr.Type) error {
	zone, err := p.zoneOf(ctx, name)
	if err != nil {
		return err
	}
	m := rr.DeleteMessage(zone, name, t)
	return p.submit(ctx, &change{zone: zone, name: dns.CanonicalName(name), updates: m.Ns})
}
