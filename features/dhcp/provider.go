package dhcp

import (
	"context"
	"net/netip"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/registry"
)

// Provider is a DHCP backend the REST API manages: it knows its subnets, stores
// reservations durably and reports the leases it handed out. The API never has two
// writes about one IP or MAC in flight, but writes about different ones arrive
// concurrently: a provider should let them share its commits.
type Provider interface {
	registry.Module
	Subnets() []record.Subnet
	Reservations(subnet netip.Prefix) []record.Reservation
	Leases(subnet netip.Prefix) []record.Lease
	ReservationsByIP(subnet netip.Prefix, ip netip.Addr) []record.Reservation
	ReservationByMAC(subnet netip.Prefix, mac string) (record.Reservation, bool)
	LeaseByIP(subnet netip.Prefix, ip netip.Addr) (record.Lease, bool)
	LeaseByMAC(subnet netip.Prefix, mac string) (record.Lease, bool)
	// AddReservation returns once the reservation is durable and served. Readers
	// should not see it before, and an error must mean it was not stored. The
	// API passes a context without cancellation: a write started is finished.
	AddReservation(ctx context.Context, r record.Reservation) error
	// DeleteReservation removes r (matched by subnet, MAC and IP); it returns once
	// durable, and an error must mean r stays.
	DeleteReservation(ctx context.Context, r record.Reservation) error
}

// AddressChecker is a provider that can say whether it holds an address (a
// reservation, a live lease or offer, a quarantined address). unused_ip needs it;
// a provider without it answers 501.
type AddressChecker interface {
	InUse(subnet netip.Prefix, ip netip.Addr) bool
}

// SuggestionHolder is a provider that says how long an unused_ip suggestion stays
// reserved for its caller (Ruby: blacklist_duration_minutes, read as seconds).
type SuggestionHolder interface {
	SuggestionHold() time.Duration
}

// Refresher is a provider whose reservations other proxies change too (the
// embedded provider on etcd). Its copy may lag the others' writes by a few ms, so
// before answering 409 from it the API has it reread what the cluster holds for
// that IP and MAC (a create right after another proxy's delete then succeeds).
type Refresher interface {
	// Shared: other proxies write the same reservations (with the journal: false).
	Shared() bool
	RefreshReservations(ctx context.Context, subnet netip.Prefix, ip netip.Addr, mac string) error
}
