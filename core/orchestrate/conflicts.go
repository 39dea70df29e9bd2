package orchestrate

import (
	"context"
	"fmt"
	"sync"

	"github.com/smartproxy/smartproxy/core/api"
)

// checkConflicts is Foreman's validation before any task: DNS records in the way
// (resolved through the core's resolver) and DHCP reservations holding the MAC or IP
// (asked of the subnet's DHCP proxy). Without overwrite they are a 422 listing them;
// with it, tasks removing them are queued first (DNS at 0, DHCP at 5) and put back by
// the undo if the run fails.
//
// It also says which wanted records are already there (the same value, the same
// reservation): creating them again is harmless, deleting them in a rollback is not.
func (o *Orchestrator) checkConflicts(ctx context.Context, q *queue, hostName string, records, oldRecords []dnsRecord,
	res reservation, checkRes bool, oldRes *reservation) (p presence, err error) {
	p.dns = map[dnsRecord]bool{}
	// The two checks ask different servers: ask them at once.
	var dnsFound []dnsRecord
	var dhcpFound []reservation
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dnsFound = o.dnsConflicts(ctx, records, oldRecords, p.dns)
	}()
	if checkRes {
		dhcpFound, p.dhcp = o.dhcpConflicts(ctx, res, oldRes)
	}
	wg.Wait()
	if len(dnsFound) == 0 && len(dhcpFound) == 0 {
		return p, nil
	}
	if !api.Overwrite(ctx) {
		var messages []string
		for _, r := range dnsFound {
			messages = append(messages, dnsConflictMessage(r))
		}
		for _, r := range dhcpFound {
			messages = append(messages, dhcpConflictMessage(r))
		}
		messages = append(messages, "Set overwrite to true to replace the conflicting records")
		return p, &api.TaskError{Messages: messages}
	}
	for _, r := range dnsFound {
		r := r
		q.add(fmt.Sprintf("Remove conflicting DNS %s record %s for %s", r.typ, conflictLabel(r), hostName), 0,
			func(ctx context.Context) error { return o.delDNS(ctx, r) },
			func(ctx context.Context) error { return o.setDNS(ctx, r) })
	}
	for _, r := range dhcpFound {
		r := r
		q.add(fmt.Sprintf("Remove conflicting DHCP reservation %s/%s", r.ip, r.mac), 5,
			func(ctx context.Context) error { return o.delDHCP(ctx, r) },
			func(ctx context.Context) error { return o.setDHCP(ctx, r) })
	}
	return p, nil
}

// presence: which wanted records the pre-check found already in place.
type presence struct {
	dns  map[dnsRecord]bool
	dhcp bool
}

func conflictLabel(r dnsRecord) string {
	if r.typ == "PTR" {
		return r.value + " -> " + r.name
	}
	return r.name + " -> " + r.value
}
