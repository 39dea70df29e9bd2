package store

import (
	"context"
	"database/sql"
	"time"
)

// HostBuild is how a host's last build ended: what the installer posted to
// /unattended/failed, and when it reported built.
type HostBuild struct {
	HostID      int64
	BuildErrors string
	InstalledAt *time.Time
	UpdatedAt   time.Time
}

// ErrNotInBuild is FinishBuild's answer for a host that left build mode meanwhile (two
// built calls racing): the second one did not finish anything.
var ErrNotInBuild = &ConflictError{Field: "build"}

// HostBuild loads the build record of a host; ErrNotFound when it never finished one.
func (s *Store) HostBuild(ctx context.Context, hostID int64) (HostBuild, error) {
	b := HostBuild{HostID: hostID}
	err := s.queryRow(ctx, `SELECT build_errors, installed_at, updated_at FROM host_builds WHERE host_id = $1`,
		hostID).Scan(&b.BuildErrors, &b.InstalledAt, &b.UpdatedAt)
	return b, mapErr(err)
}

// StartBuild records that a host entered build mode: its old build errors are cleared
// and its token replaced by token (nil: tokens are disabled, token_duration 0).
func (s *Store) StartBuild(ctx context.Context, hostID int64, token *BuildToken) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exec(ctx, tx, `DELETE FROM build_tokens WHERE host_id = $1`, hostID); err != nil {
			return err
		}
		if token != nil {
			err := exec(ctx, tx, `INSERT INTO build_tokens (host_id, value, expires_at) VALUES ($1, $2, $3)`,
				hostID, token.Value, token.ExpiresAt.UTC().Truncate(time.Microsecond))
			if err != nil {
				return err
			}
		}
		return exec(ctx, tx, `UPDATE host_builds SET build_errors = '', updated_at = $1 WHERE host_id = $2`, now(), hostID)
	})
}

// EndBuild records that a host left build mode without finishing (build turned off
// through the API): its token is deleted.
func (s *Store) EndBuild(ctx context.Context, hostID int64) error {
	return exec(ctx, s.db, `DELETE FROM build_tokens WHERE host_id = $1`, hostID)
}

// FinishBuild takes a host out of build mode as the installer asked: build off, token
// deleted, buildErrors stored ("" clears them) and, when installed, installed_at set.
// ErrNotInBuild when the host was not in build mode any more.
func (s *Store) FinishBuild(ctx context.Context, hostID int64, buildErrors string, installed bool) error {
	at := now()
	var installedAt any
	if installed {
		installedAt = at
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET build = FALSE, updated_at = $1 WHERE id = $2 AND build = TRUE`, at, hostID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotInBuild
		}
		if err := exec(ctx, tx, `DELETE FROM build_tokens WHERE host_id = $1`, hostID); err != nil {
			return err
		}
		return exec(ctx, tx, `INSERT INTO host_builds (host_id, build_errors, installed_at, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (host_id) DO UPDATE SET build_errors = excluded.build_errors,
			installed_at = COALESCE(excluded.installed_at, host_builds.installed_at), updated_at = excluded.updated_at`,
			hostID, buildErrors, installedAt, at)
	})
}

// BuildState is what a host's build mode keeps beside the row: its token and the
// errors of its last failed build. TrackBuilds snapshots it before a change of build
// mode and writes it back when the update fails and is rolled back.
type BuildState struct {
	HostID      int64
	Token       *BuildToken // nil: none
	BuildErrors string
	hasRecord   bool // a host_builds row existed
}

// BuildState loads the build state of a host.
func (s *Store) BuildState(ctx context.Context, hostID int64) (BuildState, error) {
	b := BuildState{HostID: hostID}
	tok, err := s.BuildToken(ctx, hostID)
	switch {
	case err == nil:
		b.Token = &tok
	case err != ErrNotFound:
		return b, err
	}
	rec, err := s.HostBuild(ctx, hostID)
	switch {
	case err == nil:
		b.BuildErrors, b.hasRecord = rec.BuildErrors, true
	case err != ErrNotFound:
		return b, err
	}
	return b, nil
}

// RestoreBuildState writes back a state read by BuildState: the token as it was (or
// none) and the build errors.
func (s *Store) RestoreBuildState(ctx context.Context, b BuildState) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := exec(ctx, tx, `DELETE FROM build_tokens WHERE host_id = $1`, b.HostID); err != nil {
			return err
		}
		if b.Token != nil {
			err := exec(ctx, tx, `INSERT INTO build_tokens (host_id, value, expires_at) VALUES ($1, $2, $3)`,
				b.HostID, b.Token.Value, b.Token.ExpiresAt.UTC().Truncate(time.Microsecond))
			if err != nil {
				return err
			}
		}
		if !b.hasRecord {
			return nil
		}
		return exec(ctx, tx, `UPDATE host_builds SET build_errors = $1 WHERE host_id = $2`, b.BuildErrors, b.HostID)
	})
}
