package embedded

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// What the REST API reads and writes (the dhcp.Provider methods), on the store.

func nowUnix() int64 { return time.Now().Unix() }

func (st *store) reservations(p netip.Prefix) []record.Reservation {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subnetByPrefix(p)
	if sub == nil {
		return nil
	}
	out := make([]record.Reservation, 0, len(sub.reservedByMAC))
	for _, list := range sub.reservedByIP {
		for _, r := range list {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].IP.Compare(out[j].IP); c != 0 {
			return c < 0
		}
		return out[i].MAC < out[j].MAC
	})
	return out
}

func (st *store) reservationsByIP(p netip.Prefix, ip netip.Addr) []record.Reservation {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subnetByPrefix(p)
	if sub == nil {
		return nil
	}
	var out []record.Reservation
	for _, r := range sub.reservedByIP[ip] {
		out = append(out, *r)
	}
	return out
}

func (st *store) reservationByMAC(p netip.Prefix, mac string) (record.Reservation, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sub := st.subnetByPrefix(p); sub != nil {
		if r := sub.reservedByMAC[mac]; r != nil {
			return *r, true
		}
	}
	return record.Reservation{}, false
}

// lease describes a binding for the API; offers are not leases yet.
func leaseRecord(sub *subnetState, b *binding, now int64) (record.Lease, bool) {
	l := record.Lease{IP: b.ip, MAC: b.mac, Subnet: sub.Subnet, Hostname: b.hostname,
		Starts: time.Unix(b.starts, 0).UTC(), Ends: time.Unix(b.ends, 0).UTC()}
	switch b.state {
	case stateActive:
		l.State = record.LeaseActive
		if now >= b.ends {
			l.State = record.LeaseExpired
		}
	case stateReleased:
		l.State = record.LeaseReleased
	case stateDeclined:
		l.State = record.LeaseAbandoned
	default:
		return record.Lease{}, false
	}
	return l, true
}

func (st *store) leases(p netip.Prefix) []record.Lease {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subnetByPrefix(p)
	if sub == nil {
		return nil
	}
	now := nowUnix()
	out := make([]record.Lease, 0, len(sub.byIP))
	for _, b := range sub.byIP {
		if l, ok := leaseRecord(sub, b, now); ok {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

func (st *store) leaseByIP(p netip.Prefix, ip netip.Addr) (record.Lease, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sub := st.subnetByPrefix(p); sub != nil {
		if b := sub.byIP[ip]; b != nil {
			return leaseRecord(sub, b, nowUnix())
		}
	}
	return record.Lease{}, false
}

func (st *store) leaseByMAC(p netip.Prefix, mac string) (record.Lease, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sub := st.subnetByPrefix(p); sub != nil {
		if b := sub.byMAC[mac]; b != nil {
			return leaseRecord(sub, b, nowUnix())
		}
	}
	return record.Lease{}, false
}

// inUse: reserved, or held by a live binding (offer, lease or quarantine).
func (st *store) inUse(p netip.Prefix, ip netip.Addr) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subnetByPrefix(p)
	if sub == nil {
		return false
	}
	if len(sub.reservedByIP[ip]) > 0 {
		return true
	}
	for r := range sub.pendingAdds {
		if r.IP == ip {
			return true // unused_ip must not suggest what a create is storing
		}
	}
	b := sub.byIP[ip]
	return b != nil && b.holds(nowUnix())
}

// addReservation makes r durable and serves it from the next packet on. It is
// queued as pending (in compaction snapshots, invisible to readers and DHCP
// clients) and applied once its line is durable, or dropped if the write failed.
// Once queued the write always finishes, whatever ctx says: the caller's answer
// must tell the truth about what the journal holds.
func (st *store) addReservation(_ context.Context, r record.Reservation) error {
	st.mu.Lock()
	sub := st.subnetByPrefix(r.Subnet.Prefix)
	if sub == nil {
		st.mu.Unlock()
		return fmt.Errorf("subnet %s is not served by dhcp_embedded", r.Subnet)
	}
	if !sub.Prefix.Contains(r.IP) || r.IP == sub.Network() || r.IP == sub.Broadcast() {
		st.mu.Unlock()
		return fmt.Errorf("IP %s is not a host address of subnet %s", r.IP, r.Subnet)
	}
	r.Subnet = sub.Subnet
	stored := &r
	done := make(chan error, 1)
	st.record(&entry{Kind: kindReserve, IP: r.IP.String(), MAC: r.MAC, Subnet: sub.Prefix.String(), Name: r.Name, Options: r.Options},
		func(err error) { done <- err })
	sub.pendingAdds[stored] = struct{}{}
	st.mu.Unlock()

	err := <-done
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(sub.pendingAdds, stored)
	if err != nil {
		return fmt.Errorf("storing reservation %s/%s: %w", r.IP, r.MAC, err)
	}
	st.putReservation(sub, stored)
	return nil
}

// deleteReservation removes the reservation of r.MAC with address r.IP. It stays
// served until the removal is durable, and stays for good if the write failed.
// Like addReservation it finishes a queued write whatever ctx says.
func (st *store) deleteReservation(_ context.Context, r record.Reservation) error {
	st.mu.Lock()
	sub := st.subnetByPrefix(r.Subnet.Prefix)
	var stored *record.Reservation
	if sub != nil {
		stored = sub.reservedByMAC[r.MAC]
	}
	if stored == nil || stored.IP != r.IP {
		st.mu.Unlock()
		return nil
	}
	done := make(chan error, 1)
	st.record(&entry{Kind: kindUnreserve, IP: r.IP.String(), MAC: r.MAC, Subnet: sub.Prefix.String()},
		func(err error) { done <- err })
	sub.pendingDeletes[stored] = struct{}{}
	st.mu.Unlock()

	err := <-done
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(sub.pendingDeletes, stored)
	if err != nil {
		return fmt.Errorf("deleting reservation %s/%s: %w", r.IP, r.MAC, err)
	}
	st.dropReservation(sub, stored)
	return nil
}
