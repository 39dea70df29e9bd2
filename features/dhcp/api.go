package dhcp

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/smartproxy/smartproxy/features/dhcp/record"
	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// subnetJSON is one entry of GET /dhcp.
type subnetJSON struct {
	Network string         `json:"network"`
	Netmask string         `json:"netmask"`
	Options map[string]any `json:"options"`
}

// listSubnets is GET /dhcp.
// unavailableReason ends the 503 of a write refused because the shared state
// (:state_backend: etcd) has no quorum: reads and renewals go on, writes wait.
const unavailableReason = ": the shared DHCP state (etcd) has no quorum or no reachable member; nothing was changed, try again later"

func (f *Feature) listSubnets(w http.ResponseWriter, r *http.Request) {
	subnets := f.subnets()
	out := make([]subnetJSON, len(subnets))
	for i, s := range subnets {
		out[i] = subnetJSON{Network: s.Network().String(), Netmask: s.Netmask().String(), Options: s.Options()}
	}
	httpapi.JSON(w, http.StatusOK, out)
}

// networkParam validates the :network capture (400 when it is no IPv4 address).
func networkParam(w http.ResponseWriter, r *http.Request) (netip.Addr, bool) {
	network, err := parseIPv4(httpapi.PathParam(r, "network"))
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return netip.Addr{}, false
	}
	return network, true
}

// loadSubnet resolves the :network capture, answering 400 or 404 itself.
func (f *Feature) loadSubnet(w http.ResponseWriter, r *http.Request, network netip.Addr) (record.Subnet, bool) {
	s, ok := f.findSubnet(network)
	if !ok {
		httpapi.Error(w, r, http.StatusNotFound, "Subnet "+httpapi.PathParam(r, "network")+" could not found")
	}
	return s, ok
}

// showSubnet is GET /dhcp/:network: every reservation and lease of the subnet.
func (f *Feature) showSubnet(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	s, ok := f.loadSubnet(w, r, network)
	if !ok {
		return
	}
	reply := struct {
		Reservations []record.Reservation `json:"reservations"`
		Leases       []record.Lease       `json:"leases"`
	}{f.provider.Reservations(s.Prefix), f.provider.Leases(s.Prefix)}
	if reply.Reservations == nil {
		reply.Reservations = []record.Reservation{}
	}
	if reply.Leases == nil {
		reply.Leases = []record.Lease{}
	}
	httpapi.JSON(w, http.StatusOK, reply)
}

// recordsByIP is GET /dhcp/:network/ip/:ip_address: the reservations with that
// address, else its lease, as an array.
func (f *Feature) recordsByIP(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	ipText := httpapi.PathParam(r, "ip_address")
	ip, err := parseIPv4(ipText)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s, ok := f.loadSubnet(w, r, network)
	if !ok {
		return
	}
	var out []any
	for _, res := range f.provider.ReservationsByIP(s.Prefix, ip) {
		out = append(out, res)
	}
	if len(out) == 0 {
		if l, found := f.provider.LeaseByIP(s.Prefix, ip); found {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		httpapi.Error(w, r, http.StatusNotFound, "No DHCP records for IP "+httpapi.PathParam(r, "network")+"/"+ipText+" found")
		return
	}
	httpapi.JSON(w, http.StatusOK, out)
}

// recordByMAC is GET /dhcp/:network/mac/:mac_address: the reservation for that MAC,
// else its lease.
func (f *Feature) recordByMAC(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	macText := strings.ToLower(httpapi.PathParam(r, "mac_address"))
	mac, err := normaliseMAC(macText)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s, ok := f.loadSubnet(w, r, network)
	if !ok {
		return
	}
	if res, found := f.provider.ReservationByMAC(s.Prefix, mac); found {
		httpapi.JSON(w, http.StatusOK, res)
		return
	}
	if l, found := f.provider.LeaseByMAC(s.Prefix, mac); found {
		httpapi.JSON(w, http.StatusOK, l)
		return
	}
	httpapi.Error(w, r, http.StatusNotFound, "No DHCP record for MAC "+httpapi.PathParam(r, "network")+"/"+macText+" found")
}

// createReservation is POST /dhcp/:network (Foreman's form, spec §5.1).
func (f *Feature) createReservation(w http.ResponseWriter, r *http.Request) {
	if _, ok := networkParam(w, r); !ok {
		return
	}
	res, related, err := f.reservationFromParams(httpapi.Params(r))
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if msg := notAHostAddress(res); msg != "" {
		httpapi.Error(w, r, http.StatusBadRequest, msg)
		return
	}
	keys, similar := f.lockAndCheck(r, res, related)
	for _, existing := range similar {
		if existing.Equal(res) {
			f.writes.Unlock()
			httpapi.Logger(r).Debugf("DHCP reservation %s/%s already exists as requested", res.Subnet.Network(), res.IP)
			httpapi.Empty(w)
			return
		}
	}
	conflict := "Record " + res.Subnet.Network().String() + "/" + res.IP.String() + " already exists"
	if len(similar) > 0 {
		f.writes.Unlock()
		httpapi.Error(w, r, http.StatusConflict, conflict)
		return
	}
	done := f.inFlight.claim(keys)
	f.writes.Unlock()
	// Once handed over, the write finishes even if the client gives up, so the
	// answer (had anyone read it) is always true: 200 stored, 500 not stored.
	err = func() error {
		defer f.endWrite(keys, done) // also if the provider panics: the keys must not stay busy
		return f.provider.AddReservation(context.WithoutCancel(r.Context()), res)
	}()
	if err != nil {
		if errors.Is(err, record.ErrConflict) {
			// Another proxy sharing the state took the IP or MAC first.
			httpapi.Logger(r).Infof("DHCP reservation for %s (%s / %s) refused: %v", res.Name, res.IP, res.MAC, err)
			httpapi.Error(w, r, http.StatusConflict, conflict)
			return
		}
		httpapi.Logger(r).Errorf("DHCP reservation for %s (%s / %s) not stored: %v", res.Name, res.IP, res.MAC, err)
		if errors.Is(err, etcdstate.ErrUnavailable) {
			httpapi.Error(w, r, http.StatusServiceUnavailable, "Failed to store the DHCP reservation for "+res.IP.String()+" / "+res.MAC+unavailableReason)
			return
		}
		httpapi.Error(w, r, http.StatusInternalServerError, "Failed to store the DHCP reservation for "+res.IP.String()+" / "+res.MAC)
		return
	}
	f.suggestions.release(res.IP)
	httpapi.Logger(r).Infof("Added DHCP reservation for %s (%s / %s)", res.Name, res.IP, res.MAC)
	httpapi.Empty(w)
}

// lockAndCheck takes f.writes once no write in flight touches res's IP or MAC
// and returns the reservations res would collide with (or repeat). A provider
// shared with other proxies is asked to reread the cluster before a conflict is
// believed: its copy may not have seen another proxy's delete yet.
func (f *Feature) lockAndCheck(r *http.Request, res record.Reservation, related map[string]bool) ([]string, []record.Reservation) {
	refresher, shared := f.provider.(Refresher)
	shared = shared && refresher.Shared()
	for attempt := 0; ; attempt++ {
		keys := f.lockIdle(func() []string { return reservationKeys(res) })
		similar := f.similarReservations(res, related)
		if !shared || attempt > 0 || len(similar) == 0 || slices.ContainsFunc(similar, res.Equal) {
			return keys, similar
		}
		f.writes.Unlock()
		if err := refresher.RefreshReservations(r.Context(), res.Subnet.Prefix, res.IP, res.MAC); err != nil {
			httpapi.Logger(r).Warnf("DHCP reservation for %s / %s: conflict decided on the local copy, etcd did not answer: %v", res.IP, res.MAC, err)
		}
	}
}

// notAHostAddress refuses an address outside the subnet, or its network or
// broadcast address, before a provider is asked: its failures answer 500.
func notAHostAddress(res record.Reservation) string {
	s := res.Subnet
	if !s.Prefix.Contains(res.IP) || res.IP == s.Network() || res.IP == s.Broadcast() {
		return "IP " + res.IP.String() + " is not a host address of subnet " + s.String()
	}
	return ""
}

// similarReservations are the reservations with the same IP or MAC, leaving out the
// bonded interfaces named in related_macs (leases never collide).
func (f *Feature) similarReservations(res record.Reservation, related map[string]bool) []record.Reservation {
	var out []record.Reservation
	seen := map[string]bool{}
	add := func(r record.Reservation) {
		key := r.MAC + "/" + r.IP.String()
		if related[r.MAC] || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, r)
	}
	for _, r := range f.provider.ReservationsByIP(res.Subnet.Prefix, res.IP) {
		add(r)
	}
	if r, ok := f.provider.ReservationByMAC(res.Subnet.Prefix, res.MAC); ok {
		add(r)
	}
	return out
}

// nonOptionParams are the form fields that are not stored as reservation options.
var nonOptionParams = map[string]bool{
	"ip": true, "mac": true, "name": true, "hostname": true, "subnet": true, "network": true,
	"related_macs": true, "related_macs[]": true, "captures": true, "splat": true, "_method": true,
}

// reservationFromParams validates the create form in the Ruby proxy's order and
// with its messages.
func (f *Feature) reservationFromParams(params map[string][]string) (record.Reservation, map[string]bool, error) {
	get := func(k string) string {
		if v := params[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	related := map[string]bool{}
	for _, key := range []string{"related_macs[]", "related_macs"} {
		for _, m := range params[key] {
			if n, err := normaliseMAC(m); err == nil {
				related[n] = true
			}
		}
	}
	ip, err := parseIPv4(get("ip"))
	if err != nil {
		return record.Reservation{}, nil, err
	}
	mac, err := normaliseMAC(get("mac"))
	if err != nil {
		return record.Reservation{}, nil, err
	}
	name, hostname := get("name"), get("hostname")
	if name == "" {
		name = hostname
	}
	if hostname == "" {
		hostname = name
	}
	if name == "" {
		return record.Reservation{}, nil, errors.New("Must provide hostname")
	}
	networkText := get("network")
	network, err := netip.ParseAddr(networkText)
	subnet, found := record.Subnet{}, false
	if err == nil {
		subnet, found = f.findSubnet(network)
	}
	if !found {
		return record.Reservation{}, nil, errors.New("No Subnet detected for: " + networkText)
	}
	options := map[string]string{"hostname": hostname}
	for k, v := range params {
		if nonOptionParams[k] || len(v) == 0 {
			continue
		}
		if strings.HasPrefix(k, "<") {
			return record.Reservation{}, nil, errors.New("DHCP implementation does not support Vendor Options")
		}
		options[k] = v[0]
	}
	if err := checkReservation(name, options); err != nil {
		return record.Reservation{}, nil, err
	}
	return record.Reservation{Name: name, IP: ip, MAC: mac, Subnet: subnet, Options: options}, related, nil
}

// deleteByIP is DELETE /dhcp/:network/ip/:ip_address: every reservation with that
// address goes; an unknown subnet or address is not an error, and leases stay.
func (f *Feature) deleteByIP(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	ip, err := parseIPv4(httpapi.PathParam(r, "ip_address"))
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	f.deleteMatching(w, r, network, func(p netip.Prefix) (string, []record.Reservation) {
		return ipKey(p, ip), f.provider.ReservationsByIP(p, ip)
	})
}

// deleteByMAC is DELETE /dhcp/:network/mac/:mac_address.
func (f *Feature) deleteByMAC(w http.ResponseWriter, r *http.Request) {
	network, ok := networkParam(w, r)
	if !ok {
		return
	}
	mac, err := normaliseMAC(httpapi.PathParam(r, "mac_address"))
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	f.deleteMatching(w, r, network, func(p netip.Prefix) (string, []record.Reservation) {
		if res, ok := f.provider.ReservationByMAC(p, mac); ok {
			return macKey(p, mac), []record.Reservation{res}
		}
		return macKey(p, mac), nil
	})
}

// deleteMatching removes the reservations match finds in network's subnet. It
// first waits for the writes in flight on the requested address or MAC (a create
// the client gave up on is finished, then deleted) and on the matches, so nothing
// slips in between lookup and delete. An unknown subnet or no match answers 200,
// as the Ruby proxy does; a delete that could not be stored answers 500 and the
// reservation stays.
func (f *Feature) deleteMatching(w http.ResponseWriter, r *http.Request, network netip.Addr, match func(netip.Prefix) (string, []record.Reservation)) {
	s, found := f.findSubnet(network)
	if !found {
		httpapi.Empty(w)
		return
	}
	var matched []record.Reservation
	keys := f.lockIdle(func() []string {
		key, found := match(s.Prefix)
		matched = found
		keys := []string{key}
		for _, res := range matched {
			keys = append(keys, reservationKeys(res)...)
		}
		return keys
	})
	done := f.inFlight.claim(keys)
	f.writes.Unlock()
	defer f.endWrite(keys, done)
	for _, res := range matched {
		if err := f.provider.DeleteReservation(context.WithoutCancel(r.Context()), res); err != nil {
			httpapi.Logger(r).Errorf("DHCP reservation for %s (%s / %s) not deleted: %v", res.Name, res.IP, res.MAC, err)
			if errors.Is(err, etcdstate.ErrUnavailable) {
				httpapi.Error(w, r, http.StatusServiceUnavailable, "Failed to delete the DHCP reservation for "+res.IP.String()+" / "+res.MAC+unavailableReason)
				return
			}
			httpapi.Error(w, r, http.StatusInternalServerError, "Failed to delete the DHCP reservation for "+res.IP.String()+" / "+res.MAC)
			return
		}
		httpapi.Logger(r).Infof("Deleted DHCP reservation for %s (%s / %s)", res.Name, res.IP, res.MAC)
	}
	httpapi.Empty(w)
}
