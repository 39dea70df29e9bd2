package orchestrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/smartproxy/smartproxy/core/proxies"
)

// reservation is the DHCP record a host owns on its subnet's DHCP proxy.
type reservation struct {
	proxy    string
	network  string
	hostname string
	mac, ip  string
	next     string // nextServer: the TFTP server ("" = none)
	filename string // the boot loader ("" = none)
}

func (r reservation) form() url.Values {
	f := url.Values{"hostname": {r.hostname}, "name": {r.hostname}, "mac": {r.mac}, "ip": {r.ip}, "network": {r.network}}
	if r.next != "" {
		f.Set("nextServer", r.next)
	}
	if r.filename != "" {
		f.Set("filename", r.filename)
	}
	return f
}

// reservationOf is the reservation t should have; ok is false when the host has no
// DHCP proxy, MAC or IP.
// servers remembers the next-server of each TFTP proxy asked during one run, so an
// update asks once for the old and the new reservation.
type servers map[string]string

func (o *Orchestrator) reservationOf(ctx context.Context, t *target, known servers) (r reservation, ok bool, err error) {
	h := t.host
	if t.dhcpProxy == "" || h.MAC == "" || h.IP == "" {
		return r, false, nil
	}
	r = reservation{proxy: t.dhcpProxy, network: t.subnet.Network, hostname: h.Name, mac: h.MAC, ip: h.IP}
	if t.tftpProxy != "" {
		next, seen := known[t.tftpProxy]
		if !seen {
			if next, err = o.nextServer(ctx, t.tftpProxy); err != nil {
				return r, false, err
			}
			known[t.tftpProxy] = next
		}
		r.next = next
	}
	r.filename = o.bootFilename(ctx, t)
	return r, true, nil
}

// nextServer is the TFTP proxy's tftp_servername (GET /tftp/serverName), else the
// address of the proxy's host, as Foreman's boot_server.
func (o *Orchestrator) nextServer(ctx context.Context, tftpProxy string) (string, error) {
	body, err := o.proxies.Do(ctx, http.MethodGet, tftpProxy, "/tftp/serverName", nil)
	var pe *proxies.ProxyError
	switch {
	case errors.As(err, &pe) && pe.Status == http.StatusNotFound:
	case err != nil:
		return "", fmt.Errorf("asking TFTP proxy %s for its server name: %w", tftpProxy, err)
	default:
		var reply struct {
			ServerName string `json:"serverName"`
		}
		if json.Unmarshal(body, &reply) == nil && reply.ServerName != "" {
			return reply.ServerName, nil
		}
	}
	u, err := url.Parse(tftpProxy)
	if err != nil {
		return "", err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ips, err := o.resolver.LookupIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return host, nil // the DHCP server resolves a name itself
	}
	return ips[0].String(), nil
}

func (o *Orchestrator) setDHCP(ctx context.Context, r reservation) error {
	_, err := o.proxies.Do(ctx, http.MethodPost, r.proxy, "/dhcp/"+r.network, r.form())
	return err
}

func (o *Orchestrator) delDHCP(ctx context.Context, r reservation) error {
	_, err := o.proxies.Do(ctx, http.MethodDelete, r.proxy, "/dhcp/"+r.network+"/mac/"+r.mac, nil)
	return notFoundIsDone(err)
}

// queueSetDHCP creates r; when the same reservation was already there (present) the
// undo leaves it.
func (o *Orchestrator) queueSetDHCP(q *queue, priority int, r reservation, present bool) {
	undo := func(ctx context.Context) error { return o.delDHCP(ctx, r) }
	if present {
		undo = nil
	}
	q.add("Create DHCP Settings for "+r.hostname, priority,
		func(ctx context.Context) error { return o.setDHCP(ctx, r) }, undo)
}

func (o *Orchestrator) queueDelDHCP(q *queue, priority int, r reservation) {
	q.add("Remove DHCP Settings for "+r.hostname, priority,
		func(ctx context.Context) error { return o.delDHCP(ctx, r) },
		func(ctx context.Context) error { return o.setDHCP(ctx, r) })
}

// dhcpRecord is a record as GET /dhcp/<network>/mac|ip/... returns it.
type dhcpRecord struct {
	Type       string `json:"type"`
	Hostname   string `json:"hostname"`
	Name       string `json:"name"`
	IP         string `json:"ip"`
	MAC        string `json:"mac"`
	NextServer string `json:"nextServer"`
	Filename   string `json:"filename"`
}

// dhcpConflicts asks the DHCP proxy for reservations holding the host's MAC or IP
// that are not the host's own (nor old's, which an update removes first). Leases are
// not conflicts: the proxy ignores them too. A failed lookup is no conflict; the
// create then fails with the proxy's own answer.
// present is set when want itself is already there.
func (o *Orchestrator) dhcpConflicts(ctx context.Context, want reservation, old *reservation) (found []reservation, present bool) {
	seen := map[string]bool{}
	consider := func(rec dhcpRecord) {
		if rec.Type != "reservation" || seen[rec.MAC] {
			return
		}
		mine := strings.EqualFold(rec.MAC, want.mac) && rec.IP == want.ip && strings.EqualFold(rec.Hostname, want.hostname)
		if mine && rec.NextServer == want.next && rec.Filename == want.filename {
			present = true
		}
		theirs := old != nil && strings.EqualFold(rec.MAC, old.mac)
		if mine || theirs {
			return
		}
		seen[rec.MAC] = true
		name := rec.Hostname
		if name == "" {
			name = rec.Name
		}
		found = append(found, reservation{proxy: want.proxy, network: want.network, hostname: name,
			mac: rec.MAC, ip: rec.IP, next: rec.NextServer, filename: rec.Filename})
	}
	if body, err := o.proxies.Do(ctx, http.MethodGet, want.proxy, "/dhcp/"+want.network+"/mac/"+want.mac, nil); err == nil {
		var rec dhcpRecord
		if json.Unmarshal(body, &rec) == nil {
			consider(rec)
		}
	}
	if body, err := o.proxies.Do(ctx, http.MethodGet, want.proxy, "/dhcp/"+want.network+"/ip/"+want.ip, nil); err == nil {
		var recs []dhcpRecord
		if json.Unmarshal(body, &recs) == nil {
			for _, rec := range recs {
				consider(rec)
			}
		}
	}
	return found, present
}

func dhcpConflictMessage(r reservation) string {
	return fmt.Sprintf("DHCP records %s/%s (%s) already exists", r.ip, r.mac, r.hostname)
}
