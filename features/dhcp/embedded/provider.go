// Package embedded is the dhcp_embedded provider: a DHCPv4 server inside the proxy
// (no dhcpd to install) that serves Foreman's reservations, hands out dynamic
// leases, boots PXE clients by architecture and keeps its state in a journal that
// survives kill -9.
package embedded

import (
	"context"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/registry"
)

// Name is the provider name in :use_provider: and its settings file.
const Name = "dhcp_embedded"

// Provider is the embedded DHCP server as a provider of the dhcp feature.
type Provider struct {
	cfg *config
	log *logrus.Entry
	st  *store
	srv *server
}

var (
	_ registry.Module  = (*Provider)(nil)
	_ registry.Capable = (*Provider)(nil)
	_ registry.Starter = (*Provider)(nil)
	_ registry.Stopper = (*Provider)(nil)
)

// New returns an unconfigured provider.
func New() *Provider { return &Provider{} }

func (*Provider) Name() string { return Name }

// Configure reads dhcp_embedded.yml; it opens nothing.
func (p *Provider) Configure(env *registry.Env) error {
	p.cfg = parse(env.Settings)
	p.log = env.Log
	return nil
}

// Capabilities: next-server may be given as an IPv4 address or a host name.
func (*Provider) Capabilities() []string {
	return []string{"dhcp_filename_hostname", "dhcp_filename_ipv4"}
}

// SuggestionHold is how long unused_ip keeps a suggested address for its caller.
func (p *Provider) SuggestionHold() time.Duration { return p.cfg.suggestionHold }

// Start loads the state and starts serving.
func (p *Provider) Start(context.Context) error {
	st, err := openStore(p.cfg, p.log)
	if err != nil {
		return err
	}
	srv := newServer(p.cfg, st, p.log)
	if err := srv.start(); err != nil {
		st.close()
		return err
	}
	p.st, p.srv = st, srv
	return nil
}

// Stop stops serving; every lease already acknowledged is on disk. The state
// stays readable for an API call that races the shutdown.
func (p *Provider) Stop(context.Context) error {
	if p.srv == nil {
		return nil
	}
	p.srv.shutdown()
	p.srv = nil
	return p.st.close()
}

func (p *Provider) Subnets() []record.Subnet {
	out := make([]record.Subnet, len(p.cfg.subnets))
	for i, s := range p.cfg.subnets {
		out[i] = s.Subnet
	}
	return out
}

func (p *Provider) Reservations(s netip.Prefix) []record.Reservation { return p.st.reservations(s) }
func (p *Provider) Leases(s netip.Prefix) []record.Lease             { return p.st.leases(s) }

func (p *Provider) ReservationsByIP(s netip.Prefix, ip netip.Addr) []record.Reservation {
	return p.st.reservationsByIP(s, ip)
}

func (p *Provider) ReservationByMAC(s netip.Prefix, mac string) (record.Reservation, bool) {
	return p.st.reservationByMAC(s, mac)
}

func (p *Provider) LeaseByIP(s netip.Prefix, ip netip.Addr) (record.Lease, bool) {
	return p.st.leaseByIP(s, ip)
}

func (p *Provider) LeaseByMAC(s netip.Prefix, mac string) (record.Lease, bool) {
	return p.st.leaseByMAC(s, mac)
}

func (p *Provider) InUse(s netip.Prefix, ip netip.Addr) bool { return p.st.inUse(s, ip) }

func (p *Provider) AddReservation(ctx context.Context, r record.Reservation) error {
	return p.st.addReservation(ctx, r)
}

func (p *Provider) DeleteReservation(ctx context.Context, r record.Reservation) error {
	return p.st.deleteReservation(ctx, r)
}

// Shared: with :state_backend: etcd other proxies write the same reservations.
func (p *Provider) Shared() bool { return p.st != nil && p.st.shared != nil }

// RefreshReservations rereads from etcd what the copy holds for ip and mac
// (nothing to do with the journal, which only this process writes).
func (p *Provider) RefreshReservations(ctx context.Context, s netip.Prefix, ip netip.Addr, mac string) error {
	return p.st.refreshReservations(ctx, s, ip, mac)
}
