// Package store is foreman-core's storage: plain SQL through database/sql on SQLite
// (modernc.org/sqlite, the embedded default) or PostgreSQL (pgx stdlib). One schema and,
// where they can be, the same queries ($n placeholders and RETURNING work on both);
// migrations.go lists the schema changes in order. One file per table or concern.
//
// Durability: SQLite runs in WAL mode with synchronous=FULL, so a commit is on disk
// (WAL fsynced) before the call returns: an acknowledged write survives kill -9 and a
// power cut. PostgreSQL gives the same with its default synchronous_commit=on.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Dialect names the SQL flavour where the two databases differ (DDL, error codes).
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned when a row asked for by id or name does not exist.
var ErrNotFound = errors.New("not found")

// ConflictError is a unique constraint violation: Field is the (first) column that
// already holds the value, e.g. "name".
type ConflictError struct{ Field string }

func (e *ConflictError) Error() string { return e.Field + " has already been taken" }

// maxConnections bounds the connection pool of either database.
const maxConnections = 16

// Store is an open database with its schema migrated.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// writers queues SQLite's write transactions in the process: SQLite has one
	// writer at a time, and a writer that finds the lock taken sleeps in its busy
	// handler (1 ms, 2 ms … 100 ms steps), which under concurrent writes costs far more
	// than waiting on a mutex handed over the moment the last one commits.
	writers sync.Mutex
	// statements are the reads prepared once (query text → *sql.Stmt), see prepared.go.
	statements sync.Map
}

// Open connects to database (a postgres:// URL, else a SQLite file path whose folder is
// created) and applies the pending migrations.
func Open(ctx context.Context, database string) (*Store, error) {
	s := &Store{}
	var err error
	if strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		s.dialect = Postgres
		s.db, err = sql.Open("pgx", database)
	} else {
		s.dialect = SQLite
		if err := os.MkdirAll(filepath.Dir(database), 0o750); err != nil {
			return nil, fmt.Errorf("creating the folder of %s: %w", database, err)
		}
		s.db, err = sql.Open("sqlite", sqliteDSN(database))
	}
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", Redact(database), err)
	}
	// A bounded pool: on PostgreSQL below the server's max_connections (100 by default),
	// so a burst of API requests waits in the core instead of being refused by the
	// server; on SQLite (one writer at a time anyway) enough for parallel readers. Idle
	// connections are kept, so a SQLite connection's pragmas are not re-run per request.
	s.db.SetMaxOpenConns(maxConnections)
	s.db.SetMaxIdleConns(maxConnections)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connecting to database %s: %w", Redact(database), err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrating database %s: %w", Redact(database), err)
	}
	return s, nil
}

// sqliteDSN sets the pragmas on every pooled connection. _txlock=immediate takes the
// write lock at BEGIN, so two writers wait on busy_timeout instead of failing with
// SQLITE_BUSY when a read transaction tries to upgrade.
func sqliteDSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Redact hides the password of a database URL for messages.
func Redact(database string) string {
	u, err := url.Parse(database)
	if err != nil || u.User == nil {
		return database
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close closes the database.
func (s *Store) Close() error {
	s.closeStatements()
	return s.db.Close()
}

// Dialect says which database is behind the store.
func (s *Store) Dialect() Dialect { return s.dialect }

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.dialect == SQLite {
		s.writers.Lock()
		defer s.writers.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// now is the timestamp written to created_at/updated_at: UTC, microseconds (what
// PostgreSQL keeps), so both databases give back the same value.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// mapErr turns unique violations of both drivers into *ConflictError and a missing row
// into ErrNotFound.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		// Constraints are named <table>_<column>_key (PostgreSQL's default for UNIQUE).
		field := strings.TrimSuffix(strings.TrimPrefix(pg.ConstraintName, pg.TableName+"_"), "_key")
		return &ConflictError{Field: field}
	}
	// modernc: "constraint failed: UNIQUE constraint failed: users.login (2067)"
	if msg := err.Error(); strings.Contains(msg, "UNIQUE constraint failed: ") {
		rest := msg[strings.Index(msg, "UNIQUE constraint failed: ")+len("UNIQUE constraint failed: "):]
		rest = strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' })[0]
		if dot := strings.IndexByte(rest, '.'); dot >= 0 {
			rest = rest[dot+1:]
		}
		return &ConflictError{Field: rest}
	}
	return err
}

// nullID is an optional reference: nil is NULL.
func nullID(id *int64) any {
	if id == nil {
		return nil
	}
	return *id
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }
