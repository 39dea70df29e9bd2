package store

import (
	"context"
	"time"
)

// BuildToken lets a host being built fetch its templates and report built or failed
// without any other identity (foreman-clients.md §4). One per host, created when the
// host enters build mode, deleted when it leaves it.
type BuildToken struct {
	HostID    int64
	Value     string // a UUID
	ExpiresAt time.Time
}

// Expired reports whether the token may no longer fetch templates at t (built and
// failed still accept it, as Foreman does).
func (t BuildToken) Expired(at time.Time) bool { return !at.Before(t.ExpiresAt) }

// BuildToken loads the token of a host; ErrNotFound when it has none.
func (s *Store) BuildToken(ctx context.Context, hostID int64) (BuildToken, error) {
	t := BuildToken{HostID: hostID}
	err := s.queryRow(ctx, `SELECT value, expires_at FROM build_tokens WHERE host_id = $1`, hostID).
		Scan(&t.Value, &t.ExpiresAt)
	return t, mapErr(err)
}

// BuildTokenByValue finds a token by its value, expired or not; ErrNotFound when no
// host has it.
func (s *Store) BuildTokenByValue(ctx context.Context, value string) (BuildToken, error) {
	t := BuildToken{Value: value}
	err := s.queryRow(ctx, `SELECT host_id, expires_at FROM build_tokens WHERE value = $1`, value).
		Scan(&t.HostID, &t.ExpiresAt)
	return t, mapErr(err)
}
