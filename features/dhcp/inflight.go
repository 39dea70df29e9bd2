package dhcp

import (
	"net/netip"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
)

// writesInFlight are the reservation writes handed to the provider and not yet
// answered, by the addresses and MACs they touch. The duplicate check and the
// hand-over happen under Feature.writes, but the wait for durability does not: a
// write first waits for the writes in flight on any of its keys, so two writes
// about one IP or MAC never race, while writes about different ones reach the
// provider together and share its journal commits. Guarded by Feature.writes.
type writesInFlight map[string]chan struct{}

func ipKey(subnet netip.Prefix, ip netip.Addr) string { return subnet.String() + " ip " + ip.String() }
func macKey(subnet netip.Prefix, mac string) string   { return subnet.String() + " mac " + mac }

// reservationKeys are the keys a change of r touches.
func reservationKeys(r record.Reservation) []string {
	return []string{ipKey(r.Subnet.Prefix, r.IP), macKey(r.Subnet.Prefix, r.MAC)}
}

// busy returns the done channel of a write in flight on one of keys, or nil.
func (w writesInFlight) busy(keys []string) chan struct{} {
	for _, k := range keys {
		if done, ok := w[k]; ok {
			return done
		}
	}
	return nil
}

// claim marks keys as in flight; release(keys, done) ends it.
func (w writesInFlight) claim(keys []string) chan struct{} {
	done := make(chan struct{})
	for _, k := range keys {
		w[k] = done
	}
	return done
}

func (w writesInFlight) release(keys []string, done chan struct{}) {
	for _, k := range keys {
		delete(w, k)
	}
	close(done)
}

// lockIdle takes f.writes once no write in flight touches any of the keys that
// keysNow names, and returns them with the lock held. keysNow runs under the lock
// and again after each wait, since what it reads may have changed meanwhile.
func (f *Feature) lockIdle(keysNow func() []string) []string {
	for {
		f.writes.Lock()
		keys := keysNow()
		done := f.inFlight.busy(keys)
		if done == nil {
			return keys
		}
		f.writes.Unlock()
		<-done // at most one journal commit away
	}
}

// endWrite releases what claim took, once the provider answered.
func (f *Feature) endWrite(keys []string, done chan struct{}) {
	f.writes.Lock()
	f.inFlight.release(keys, done)
	f.writes.Unlock()
}
