// Package dhcp is the DHCP feature (spec §5.1): Foreman's REST API for subnets,
// reservations and leases, in front of a provider chosen by :use_provider: (the
// embedded DHCPv4 server, dhcp_embedded, by default).
package dhcp

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/embedded"
	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/registry"
)

// DefaultProvider serves when dhcp.yml leaves :use_provider: unset.
const DefaultProvider = "dhcp_embedded"

// defaultSuggestionHold is Ruby's blacklist_duration_minutes default (1800, read as seconds).
const defaultSuggestionHold = 30 * time.Minute

// Feature serves /dhcp.
type Feature struct {
	factories map[string]func() Provider

	provider   Provider
	pingFreeIP bool
	managed    []netip.Prefix // dhcp.yml :subnets:; empty = every subnet of the provider
	ping       func(ctx context.Context, ip netip.Addr) bool

	// writes makes a write's duplicate check and its hand-over to the provider one
	// step; the provider's wait for durability runs outside it (see inflight.go).
	writes      sync.Mutex
	inFlight    writesInFlight
	suggestions *suggestions
}

var (
	_ registry.Feature      = (*Feature)(nil)
	_ registry.ProviderUser = (*Feature)(nil)
)

// New is the DHCP feature with the providers this binary contains.
func New() *Feature {
	return NewWithProviders(map[string]func() Provider{
		DefaultProvider: func() Provider { return embedded.New() },
	})
}

// NewWithProviders is the feature with a given provider set (tests use fakes).
func NewWithProviders(factories map[string]func() Provider) *Feature {
	return &Feature{factories: factories, ping: isAlive, inFlight: writesInFlight{}}
}

func (*Feature) Name() string { return "dhcp" }

// Configure reads dhcp.yml: :server: (kept for Ruby compatibility; the embedded
// provider is the server), :subnets: ("network/netmask" strings limiting the managed
// subnets) and :ping_free_ip:.
func (f *Feature) Configure(env *registry.Env) error {
	s := env.Settings
	s.String("server", "127.0.0.1")
	f.pingFreeIP = s.Bool("ping_free_ip", true)
	f.managed = nil
	for _, item := range s.StringList("subnets", nil) {
		p, err := parseManagedSubnet(item)
		if err != nil {
			s.Fail("subnets", "%v", err)
			continue
		}
		f.managed = append(f.managed, p)
	}
	return nil
}

// parseManagedSubnet reads "192.168.122.0/255.255.255.0" (or a /24 prefix length).
func parseManagedSubnet(item string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(item); err == nil && p.Addr().Is4() {
		return p.Masked(), nil
	}
	bad := fmt.Errorf("item %q must be network/netmask", item)
	networkText, maskText, found := strings.Cut(item, "/")
	if !found {
		return netip.Prefix{}, bad
	}
	network, err := netip.ParseAddr(networkText)
	if err != nil || !network.Is4() {
		return netip.Prefix{}, bad
	}
	mask, err := netip.ParseAddr(maskText)
	if err != nil {
		return netip.Prefix{}, bad
	}
	bits, err := record.MaskBits(mask)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("item %q: %w", item, err)
	}
	return netip.PrefixFrom(network, bits).Masked(), nil
}

// ProviderNames: dhcp_embedded unless dhcp.yml names another provider.
func (*Feature) ProviderNames(configured []string) ([]string, bool) {
	if len(configured) == 0 {
		return []string{DefaultProvider}, false
	}
	return configured, false
}

// NewProvider returns nil for a provider this binary does not contain (dhcp_isc,
// dhcp_native_ms, ...), which fails the feature with the name in the message.
func (f *Feature) NewProvider(name string) registry.Module {
	make, ok := f.factories[name]
	if !ok {
		return nil
	}
	return make()
}

// UseProviders takes the one configured provider.
func (f *Feature) UseProviders(providers []registry.Module) error {
	if len(providers) != 1 {
		return fmt.Errorf("dhcp needs exactly one provider in :use_provider:, got %d", len(providers))
	}
	p, ok := providers[0].(Provider)
	if !ok {
		return fmt.Errorf("%s is not a DHCP provider", providers[0].Name())
	}
	f.provider = p
	hold := defaultSuggestionHold
	if h, ok := p.(SuggestionHolder); ok {
		hold = h.SuggestionHold()
	}
	f.suggestions = newSuggestions(hold)
	return nil
}

func (f *Feature) Routes() []registry.Route {
	return []registry.Route{
		{Method: http.MethodGet, Path: "/dhcp", Handler: f.listSubnets},
		{Method: http.MethodGet, Path: "/dhcp/:network", Handler: f.showSubnet},
		{Method: http.MethodGet, Path: "/dhcp/:network/unused_ip", Handler: f.unusedIP},
		{Method: http.MethodGet, Path: "/dhcp/:network/ip/:ip_address", Handler: f.recordsByIP},
		{Method: http.MethodGet, Path: "/dhcp/:network/mac/:mac_address", Handler: f.recordByMAC},
		{Method: http.MethodPost, Path: "/dhcp/:network", Handler: f.createReservation},
		{Method: http.MethodDelete, Path: "/dhcp/:network/ip/:ip_address", Handler: f.deleteByIP},
		{Method: http.MethodDelete, Path: "/dhcp/:network/mac/:mac_address", Handler: f.deleteByMAC},
	}
}

// subnets lists the provider's subnets that dhcp.yml lets us manage.
func (f *Feature) subnets() []record.Subnet {
	all := f.provider.Subnets()
	if len(f.managed) == 0 {
		return all
	}
	out := make([]record.Subnet, 0, len(all))
	for _, s := range all {
		for _, m := range f.managed {
			if m == s.Prefix {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// findSubnet resolves an address to a subnet: the one with that network address,
// else the one containing it (spec §5.1).
func (f *Feature) findSubnet(addr netip.Addr) (record.Subnet, bool) {
	subnets := f.subnets()
	for _, s := range subnets {
		if s.Network() == addr {
			return s, true
		}
	}
	for _, s := range subnets {
		if s.Prefix.Contains(addr) {
			return s, true
		}
	}
	return record.Subnet{}, false
}
