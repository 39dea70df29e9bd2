// Package embedded is the dns_embedded provider: an authoritative DNS server for the
// configured zones, whose host records Foreman manages through the API (and, with a
// TSIG key, any RFC 2136 client such as nsupdate). Records are kept durably in a
// state directory.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
	"github.com/smartproxy/smartproxy/registry"
)

// Provider runs the server and applies the API's changes to its store.
type Provider struct {
	cfg      config
	log      *logrus.Entry
	store    *Store
	handler  *Handler
	listener *listener
}

var (
	_ registry.Module  = (*Provider)(nil)
	_ registry.Starter = (*Provider)(nil)
	_ registry.Stopper = (*Provider)(nil)
)

// New returns an unconfigured provider.
func New() *Provider { return &Provider{} }

func (*Provider) Name() string { return "dns_embedded" }

// Configure reads dns_embedded.yml (see parseConfig); nothing is opened yet.
func (p *Provider) Configure(env *registry.Env) error {
	p.log = env.Log
	p.cfg = parseConfig(env.Settings)
	return nil
}

// Start loads the records and starts answering on :listen:.
func (p *Provider) Start(ctx context.Context) error {
	store, err := openStore(p.cfg, p.log)
	if err != nil {
		return err
	}
	p.store = store
	p.handler = newHandler(store, tsigkey.NewRing(p.cfg.keys...), p.log)
	l, err := listen(ctx, p.handler, p.cfg.listen)
	if err != nil {
		store.Close()
		return err
	}
	p.listener = l
	where := p.cfg.stateDir
	if p.cfg.state.Etcd() {
		where = "etcd " + strings.Join(p.cfg.state.Endpoints, ",") + " under " + p.cfg.state.Prefix + dnsPrefix
	}
	p.log.Infof("dns_embedded: serving %s on %s (udp, tcp); records in %s", strings.Join(store.ZoneNames(), ", "), l.Addr(), where)
	return nil
}

// Stop stops answering and releases the state directory.
func (p *Provider) Stop(ctx context.Context) error {
	var err error
	if p.listener != nil {
		err = p.listener.stop(ctx)
		p.listener = nil
	}
	if p.store != nil {
		if cerr := p.store.Close(); err == nil {
			err = cerr
		}
		p.store = nil
	}
	return err
}

// Addr is the address the server answers on.
func (p *Provider) Addr() string { return p.listener.Addr() }

// Lookup reads the records of type t (and any CNAME) at name from the store, which is
// what the server answers.
func (p *Provider) Lookup(_ context.Context, name string, t rr.Type) ([]rr.Record, error) {
	if p.store == nil {
		return nil, errNotRunning
	}
	canonical := dns.CanonicalName(name)
	p.store.mu.RLock()
	defer p.store.mu.RUnlock()
	z := p.store.zoneFor(canonical)
	if z == nil {
		return nil, p.noZone(name)
	}
	var out []rr.Record
	for _, x := range append(z.rrset(canonical, t.Code()), z.rrset(canonical, dns.TypeCNAME)...) {
		if rec, ok := rr.FromRR(x); ok {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Create adds rec through the same RFC 2136 path as a signed update from the wire.
func (p *Provider) Create(_ context.Context, rec rr.Record) error {
	z := p.zoneOf(rec.Name)
	if z == "" {
		return p.noZone(rec.Name)
	}
	m, err := rr.AddMessage(z, rec)
	if err != nil {
		return err
	}
	return p.apply(rec.Name, m)
}

// Delete removes the records of type t at name.
func (p *Provider) Delete(_ context.Context, name string, t rr.Type) error {
	z := p.zoneOf(name)
	if z == "" {
		return p.noZone(name)
	}
	return p.apply(name, rr.DeleteMessage(z, name, t))
}

func (p *Provider) zoneOf(name string) string {
	if p.store == nil {
		return ""
	}
	p.store.mu.RLock()
	defer p.store.mu.RUnlock()
	if z := p.store.zoneFor(dns.CanonicalName(name)); z != nil {
		return z.name
	}
	return ""
}

var errNotRunning = errors.New("dns_embedded is not running")

func (p *Provider) noZone(name string) error {
	if p.store == nil {
		return errNotRunning
	}
	return fmt.Errorf("dns_embedded serves no zone holding %s (zones: %s)", name, strings.Join(p.store.ZoneNames(), ", "))
}

// apply packs and re-reads m so that the store sees exactly what a client's update
// would carry (record lengths included), then runs it.
func (p *Provider) apply(name string, m *dns.Msg) error {
	wire, err := m.Pack()
	if err != nil {
		return fmt.Errorf("update of %s: %w", name, err)
	}
	var msg dns.Msg
	if err := msg.Unpack(wire); err != nil {
		return fmt.Errorf("update of %s: %w", name, err)
	}
	reply := new(dns.Msg)
	rcode, err := p.store.update(msg.Question[0].Name, msg.Answer, msg.Ns)
	if err != nil {
		return fmt.Errorf("update of %s: %w", name, err)
	}
	reply.Rcode = rcode
	return rr.CheckReply(name, reply)
}
