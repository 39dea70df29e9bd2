package record

import (
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"strings"
	"time"
)

// Reservation is a host entry made through the API (Foreman's "DHCP record").
type Reservation struct {
	Name    string
	IP      netip.Addr
	MAC     string // lower-case, colon-separated
	Subnet  Subnet
	Options map[string]string // hostname, nextServer, filename and any other form field
}

// Hostname is option 12 for the host: the "hostname" option, else the name.
func (r Reservation) Hostname() string {
	if h := r.Options["hostname"]; h != "" {
		return h
	}
	return r.Name
}

// NextServer is Foreman's nextServer option (an IPv4 address or a host name).
func (r Reservation) NextServer() string { return r.Options["nextServer"] }

// Filename is Foreman's boot file option.
func (r Reservation) Filename() string { return r.Options["filename"] }

// Equal reports whether two reservations say the same thing (name, ip, mac, subnet
// and options), which makes a repeated create a no-op.
func (r Reservation) Equal(o Reservation) bool {
	return r.Name == o.Name && r.IP == o.IP && r.MAC == o.MAC &&
		r.Subnet.Prefix == o.Subnet.Prefix && maps.Equal(r.Options, o.Options)
}

// MarshalJSON is the flat shape Foreman reads: fixed fields merged with the options.
func (r Reservation) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(r.Options)+6)
	for k, v := range r.Options {
		out[k] = v
	}
	out["name"] = r.Name
	out["ip"] = r.IP.String()
	out["mac"] = r.MAC
	out["subnet"] = r.Subnet.String()
	out["type"] = "reservation"
	out["deleteable"] = true
	return json.Marshal(out)
}

// LeaseState is where a lease is in its life, named as ISC dhcpd names them.
type LeaseState string

const (
	LeaseActive    LeaseState = "active"
	LeaseExpired   LeaseState = "expired"
	LeaseReleased  LeaseState = "released"
	LeaseAbandoned LeaseState = "abandoned" // declined by the client: the address is quarantined
)

// Lease is an address the DHCP server handed out dynamically.
type Lease struct {
	IP       netip.Addr
	MAC      string
	Subnet   Subnet
	Starts   time.Time
	Ends     time.Time // zero: no end
	State    LeaseState
	Hostname string
}

// Name is "lease-" and the MAC without separators, as the Ruby proxy names leases.
func (l Lease) Name() string { return "lease-" + strings.ReplaceAll(l.MAC, ":", "") }

// rubyTime formats like Ruby's Time#to_s in UTC, which Foreman parses.
func rubyTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// MarshalJSON is the flat lease shape of spec §5.1.
func (l Lease) MarshalJSON() ([]byte, error) {
	out := map[string]any{
		"name":   l.Name(),
		"ip":     l.IP.String(),
		"mac":    l.MAC,
		"subnet": l.Subnet.String(),
		"starts": rubyTime(l.Starts),
		"ends":   rubyTime(l.Ends),
		"state":  string(l.State),
		"type":   "lease",
	}
	if l.Hostname != "" {
		out["hostname"] = l.Hostname
	}
	return json.Marshal(out)
}

// ErrConflict is what a provider's AddReservation wraps when the IP or MAC turned
// out to be reserved already (found by the provider rather than by the API's own
// duplicate check, e.g. by another proxy sharing its state): the API answers 409.
var ErrConflict = errors.New("the IP or MAC is reserved already")
