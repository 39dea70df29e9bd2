package embedded

import (
	"net/netip"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// The address decisions of the DHCP server. Every method expects st.mu held.

func (sub *subnetState) inPool(ip netip.Addr) bool {
	return sub.Range != nil && sub.Range.Contains(ip)
}

// available reports whether mac may have ip: nobody else's reservation names it and
// no other client's binding holds it (nor the client's own quarantine).
func (st *store) available(sub *subnetState, ip netip.Addr, mac string, now int64) bool {
	if list := sub.reservedByIP[ip]; len(list) > 0 {
		for _, r := range list {
			if r.MAC == mac {
				return true
			}
		}
		return false
	}
	b := sub.byIP[ip]
	if b == nil {
		return true
	}
	if b.mac == mac && b.state != stateDeclined {
		return true
	}
	return !b.holds(now)
}

// chooseOffer picks what to offer: the client's reservation, else the address it
// had, else the one it asks for, else the next free one in the pool.
func (st *store) chooseOffer(sub *subnetState, mac string, requested netip.Addr, now int64) (netip.Addr, *record.Reservation, bool) {
	if r := sub.reservedByMAC[mac]; r != nil {
		return r.IP, r, true
	}
	if b := sub.byMAC[mac]; b != nil && sub.inPool(b.ip) && st.available(sub, b.ip, mac, now) {
		return b.ip, nil, true
	}
	if requested.IsValid() && sub.inPool(requested) && st.available(sub, requested, mac, now) {
		return requested, nil, true
	}
	ip, ok := st.nextFree(sub, mac, now)
	return ip, nil, ok
}

// nextFree walks the pool from where the last search stopped, so consecutive
// clients get consecutive addresses without rescanning what was just handed out.
func (st *store) nextFree(sub *subnetState, mac string, now int64) (netip.Addr, bool) {
	if sub.Range == nil {
		return netip.Addr{}, false
	}
	first, last := record.ToUint32(sub.Range.First), record.ToUint32(sub.Range.Last)
	network, broadcast := record.ToUint32(sub.Network()), record.ToUint32(sub.Broadcast())
	if sub.cursor < first || sub.cursor > last {
		sub.cursor = first
	}
	size := uint64(last-first) + 1
	for i := uint64(0); i < size; i++ {
		v := sub.cursor
		if sub.cursor == last {
			sub.cursor = first
		} else {
			sub.cursor++
		}
		if v == network || v == broadcast {
			continue
		}
		ip := record.FromUint32(v)
		if st.available(sub, ip, mac, now) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// holdOffer keeps an offered pool address for the client until its REQUEST. A live
// lease of the same client stays as it is.
func (st *store) holdOffer(sub *subnetState, ip netip.Addr, mac string, now int64) {
	if b := sub.byIP[ip]; b != nil && b.mac == mac && b.state == stateActive && b.holds(now) {
		return
	}
	st.bind(sub, ip, mac, stateOffered, now, now+int64(offerHold/time.Second), "")
}

// dropOffer frees the address offered to a client that chose another server.
func (st *store) dropOffer(sub *subnetState, mac string) {
	if b := sub.byMAC[mac]; b != nil && b.state == stateOffered {
		b.state = stateReleased
	}
}

// checkRequest decides a REQUEST for ip: the client's reservation must name it, or
// it must be a free pool address (or already the client's).
func (st *store) checkRequest(sub *subnetState, ip netip.Addr, mac string, now int64) (*record.Reservation, bool) {
	if r := sub.reservedByMAC[mac]; r != nil {
		return r, r.IP == ip
	}
	return nil, sub.inPool(ip) && st.available(sub, ip, mac, now)
}

// grantReserved is the ACK of a reservation: the reservation itself is durable, so
// nothing is journaled. Another client's binding on the address loses it.
func (st *store) grantReserved(sub *subnetState, r *record.Reservation, now int64) {
	if b := sub.byIP[r.IP]; b != nil && b.mac != r.MAC && b.holds(now) {
		st.log.Warnf("DHCP address %s is reserved for %s; the binding of %s is dropped", r.IP, r.MAC, b.mac)
		b.state = stateReleased
	}
	if b := sub.byMAC[r.MAC]; b != nil && b.ip != r.IP && b.state != stateDeclined {
		b.state = stateReleased
	}
}

// release is a DHCPRELEASE: the address is free again, remembered for this client.
func (st *store) release(sub *subnetState, ip netip.Addr, mac string, now int64) bool {
	b := sub.byIP[ip]
	if b == nil || b.mac != mac || b.state != stateActive {
		return false
	}
	b.state, b.ends = stateReleased, now
	st.record(bindingEntry(b), nil)
	return true
}

// decline is a DHCPDECLINE: the client found ip in use, so it is quarantined.
func (st *store) decline(sub *subnetState, ip netip.Addr, mac string, now int64) bool {
	if !sub.inPool(ip) {
		return false
	}
	if b := sub.byIP[ip]; b != nil && b.mac != mac && b.holds(now) {
		return false
	}
	b := st.bind(sub, ip, mac, stateDeclined, now, now+int64(st.declineProbation/time.Second), "")
	st.record(bindingEntry(b), nil)
	return true
}
