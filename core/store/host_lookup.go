package store

import (
	"context"
	"fmt"
	"strings"
)

// maxLookupMACs bounds the MAC list a provisioning request may carry (one header per
// NIC; no real machine has more).
const maxLookupMACs = 64

// HostByMAC finds the host whose provisioning MAC is one of macs (lower-case, colon
// form, as the API stores it); several match → the most recently created, as Foreman
// picks. ErrNotFound when none does.
func (s *Store) HostByMAC(ctx context.Context, macs ...string) (Host, error) {
	if len(macs) == 0 {
		return Host{}, ErrNotFound
	}
	if len(macs) > maxLookupMACs {
		macs = macs[:maxLookupMACs]
	}
	marks := make([]string, len(macs))
	args := make([]any, len(macs))
	for i, m := range macs {
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = m
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM hosts WHERE mac IN (`+strings.Join(marks, ", ")+`)
		ORDER BY created_at DESC, id DESC LIMIT 1`, args...).Scan(&id)
	if err != nil {
		return Host{}, mapErr(err)
	}
	return s.Host(ctx, id)
}

// HostByIP finds the most recently created host with this provisioning IP.
func (s *Store) HostByIP(ctx context.Context, ip string) (Host, error) {
	return s.loadHost(ctx, `id = (SELECT id FROM hosts WHERE ip = $1 ORDER BY created_at DESC, id DESC LIMIT 1)`, ip)
}
