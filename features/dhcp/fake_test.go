package dhcp_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/registry"
)

// leaseOnlyProvider has leases but no reservations and cannot answer unused_ip:
// the API's lease branches and its 501.
type leaseOnlyProvider struct{ subnet record.Subnet }

func (*leaseOnlyProvider) Name() string                  { return "dhcp_leases_only" }
func (*leaseOnlyProvider) Configure(*registry.Env) error { return nil }
func (p *leaseOnlyProvider) Subnets() []record.Subnet    { return []record.Subnet{p.subnet} }
func (*leaseOnlyProvider) Reservations(netip.Prefix) []record.Reservation {
	return nil
}
func (p *leaseOnlyProvider) Leases(netip.Prefix) []record.Lease { return []record.Lease{p.lease()} }
func (*leaseOnlyProvider) ReservationsByIP(netip.Prefix, netip.Addr) []record.Reservation {
	return nil
}
func (*leaseOnlyProvider) ReservationByMAC(netip.Prefix, string) (record.Reservation, bool) {
	return record.Reservation{}, false
}
func (p *leaseOnlyProvider) LeaseByIP(_ netip.Prefix, ip netip.Addr) (record.Lease, bool) {
	return p.lease(), ip == p.lease().IP
}
func (p *leaseOnlyProvider) LeaseByMAC(_ netip.Prefix, mac string) (record.Lease, bool) {
	return p.lease(), mac == p.lease().MAC
}
func (*leaseOnlyProvider) AddReservation(context.Context, record.Reservation) error    { return nil }
func (*leaseOnlyProvider) DeleteReservation(context.Context, record.Reservation) error { return nil }

func (p *leaseOnlyProvider) lease() record.Lease {
	return record.Lease{IP: netip.MustParseAddr("192.168.122.2"), MAC: "00:aa:bb:cc:dd:ee", Subnet: p.subnet,
		Starts: time.Date(2014, 7, 12, 10, 8, 29, 0, time.UTC), State: record.LeaseActive}
}

func TestLeasesAndNotImplemented(t *testing.T) {
	subnet := record.Subnet{Prefix: netip.MustParsePrefix("192.168.122.0/24")}
	f := dhcp.NewWithProviders(map[string]func() dhcp.Provider{
		"dhcp_leases_only": func() dhcp.Provider { return &leaseOnlyProvider{subnet: subnet} },
	})
	p := proxytest.Start(t, "", map[string]string{"dhcp.yml": ":enabled: true\n:use_provider: dhcp_leases_only\n"}, f)
	lease := `{"name":"lease-00aabbccddee","ip":"192.168.122.2","mac":"00:aa:bb:cc:dd:ee",` +
		`"subnet":"192.168.122.0/255.255.255.0","starts":"2014-07-12 10:08:29 UTC","ends":null,"state":"active","type":"lease"}`
	sameJSON(t, check(t, p, "GET", "/dhcp/192.168.122.0/ip/192.168.122.2", nil, want{status: 200}).Body, "["+lease+"]")
	sameJSON(t, check(t, p, "GET", "/dhcp/192.168.122.0/mac/00:AA:BB:CC:DD:EE", nil, want{status: 200}).Body, lease)
	sameJSON(t, check(t, p, "GET", "/dhcp/192.168.122.0", nil, want{status: 200}).Body, `{"reservations":[],"leases":[`+lease+`]}`)
	check(t, p, "GET", "/dhcp/192.168.122.0/unused_ip", nil, want{501, "unused_ip is not implemented by the dhcp_leases_only provider"})
	// Leases are never deleted, and never collide with a new reservation.
	check(t, p, "DELETE", "/dhcp/192.168.122.0/ip/192.168.122.2", nil, want{200, ""})
	check(t, p, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "00:aa:bb:cc:dd:ee", "ip", "192.168.122.2"), want{200, ""})
}
