package dhcp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/httpapi"
)

// maxPingedCandidates bounds how long one unused_ip call can take when every
// candidate answers a ping (each check waits up to about a second).
const maxPingedCandidates = 16

// unusedIP is GET /dhcp/:network/unused_ip?mac=&from=&to= (spec §5.1).
func (f *Feature) unusedIP(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	params := httpapi.Params(r)
	fromText, toText, macText := params.Get("from"), params.Get("to"), params.Get("mac")
	var from, to netip.Addr
	var err error
	if fromText != "" && toText != "" {
		if from, err = parseIPv4(fromText); err == nil {
			to, err = parseIPv4(toText)
		}
		if err != nil {
			httpapi.Error(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	var mac string
	if macText != "" {
		if mac, err = normaliseMAC(macText); err != nil {
			httpapi.Error(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	s, ok := f.loadSubnet(w, r, network)
	if !ok {
		return
	}
	checker, ok := f.provider.(AddressChecker)
	if !ok {
		httpapi.Error(w, r, http.StatusNotImplemented, "unused_ip is not implemented by the "+f.provider.Name()+" provider")
		return
	}
	first, last, err := searchRange(s, from, to)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	reply := struct {
		IP *string `json:"ip"`
	}{}
	if ip, found := f.pickUnusedIP(r.Context(), s, checker, mac, first, last); found {
		text := ip.String()
		reply.IP = &text
	}
	httpapi.JSON(w, http.StatusOK, reply)
}

// searchRange is the subnet's usable addresses (network and broadcast left out),
// narrowed to from..to when both are given.
func searchRange(s record.Subnet, from, to netip.Addr) (first, last uint32, err error) {
	first, last = record.ToUint32(s.Network())+1, record.ToUint32(s.Broadcast())-1
	if !from.IsValid() {
		return first, last, nil
	}
	if !s.Prefix.Contains(from) || !s.Prefix.Contains(to) {
		return 0, 0, fmt.Errorf("Range does not belong to provided subnet")
	}
	if from.Compare(to) > 0 {
		return 0, 0, fmt.Errorf("%s can't be lower IP address than %s - change the order?", from, to)
	}
	return max(first, record.ToUint32(from)), min(last, record.ToUint32(to)), nil
}

// pickUnusedIP returns the MAC's existing address when it lies in the range, else a
// random free address nobody was offered recently, skipping addresses that answer a
// ping when ping_free_ip is on.
func (f *Feature) pickUnusedIP(ctx context.Context, s record.Subnet, checker AddressChecker, mac string, first, last uint32) (netip.Addr, bool) {
	if first > last {
		return netip.Addr{}, false
	}
	inRange := func(ip netip.Addr) bool {
		v := record.ToUint32(ip)
		return first <= v && v <= last
	}
	if mac != "" {
		if res, ok := f.provider.ReservationByMAC(s.Prefix, mac); ok && inRange(res.IP) {
			return res.IP, true
		}
		if l, ok := f.provider.LeaseByMAC(s.Prefix, mac); ok && inRange(l.IP) {
			return l.IP, true
		}
	}
	size := uint64(last-first) + 1
	start := rand.Uint64N(size)
	pinged := 0
	for i := uint64(0); i < size; i++ {
		ip := record.FromUint32(first + uint32((start+i)%size))
		if checker.InUse(s.Prefix, ip) || !f.suggestions.claim(ip) {
			continue
		}
		if !f.pingFreeIP {
			return ip, true
		}
		if pinged >= maxPingedCandidates {
			f.suggestions.release(ip)
			break
		}
		pinged++
		if !f.ping(ctx, ip) {
			return ip, true
		}
		// An address that answers stays claimed, as in the Ruby proxy, so the next
		// caller does not ping it again.
	}
	return netip.Addr{}, false
}

// suggestions remembers the addresses unused_ip handed out so two hosts created at
// the same time get different addresses.
type suggestions struct {
	hold time.Duration
	mu   sync.Mutex
	held map[netip.Addr]time.Time // address -> when it becomes free again
}

func newSuggestions(hold time.Duration) *suggestions {
	return &suggestions{hold: hold, held: map[netip.Addr]time.Time{}}
}

// claim marks ip as suggested unless it already is.
func (s *suggestions) claim(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if until, ok := s.held[ip]; ok && now.Before(until) {
		return false
	}
	if len(s.held) > 4096 {
		for k, until := range s.held {
			if !now.Before(until) {
				delete(s.held, k)
			}
		}
	}
	s.held[ip] = now.Add(s.hold)
	return true
}

// release forgets a suggestion (the address got a reservation, or was not used).
func (s *suggestions) release(ip netip.Addr) {
	s.mu.Lock()
	delete(s.held, ip)
	s.mu.Unlock()
}
