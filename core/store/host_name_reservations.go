package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"time"
)

// HostNameReservationStale is when a reservation left by a core killed mid-run is
// taken over: far beyond the longest orchestration run (each proxy call is bounded by
// proxy_request_timeout, 60 s by default, and a run makes a few dozen at most).
const HostNameReservationStale = time.Hour

// ReserveHostName holds name for one orchestration run: until release is called, a
// second ReserveHostName of the name fails with a *ConflictError on field "name"
// (Foreman's "Name has already been taken"), whichever core process on this database
// asks. The row is committed before the caller talks to any proxy, so two creates of
// one name never both reach them. A reservation older than stale (left by a core
// killed mid-run) is taken over; stale must exceed the longest run.
func (s *Store) ReserveHostName(ctx context.Context, name string, stale time.Duration) (release func() error, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	holder := hex.EncodeToString(b[:])
	at := now()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exec(ctx, tx, `DELETE FROM host_name_reservations WHERE name = $1 AND reserved_at < $2`,
			name, at.Add(-stale)); err != nil {
			return err
		}
		return exec(ctx, tx, `INSERT INTO host_name_reservations (name, holder, reserved_at) VALUES ($1, $2, $3)`,
			name, holder, at)
	})
	if err != nil {
		return nil, err
	}
	return func() error {
		// Only our own row: a stale one taken over by another run is theirs now.
		return exec(context.WithoutCancel(ctx), s.db, `DELETE FROM host_name_reservations WHERE name = $1 AND holder = $2`,
			name, holder)
	}, nil
}
