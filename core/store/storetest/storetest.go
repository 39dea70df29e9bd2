// Package storetest gives tests a fresh database of each kind: a SQLite file always,
// and a PostgreSQL database when SMARTPROXY_TEST_POSTGRES names a reachable server
// (.ci/run starts a throwaway cluster and sets it). Nothing outside tests imports it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// EnvPostgres names the PostgreSQL server tests may create databases on, as a
// postgres:// URL of a role allowed to CREATE DATABASE.
const EnvPostgres = "SMARTPROXY_TEST_POSTGRES"

// Database is one place a test can open a store on.
type Database struct {
	Kind string // "sqlite" or "postgres"
	URL  string // what store.Open and the database config key take
}

// Each runs fn as a subtest per database kind, each with its own empty database; the
// PostgreSQL subtest is skipped, saying why, when EnvPostgres is unset.
func Each(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite is a new database file in the test's temp dir.
func SQLite(t testing.TB) Database {
	return Database{Kind: "sqlite", URL: filepath.Join(t.TempDir(), "state", "foreman-core.db")}
}

// Postgres creates an empty database for the test and drops it afterwards; it skips
// the test when no server is configured.
func Postgres(t testing.TB) Database {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Skipf("%s is not set: PostgreSQL tests skipped (.ci/run sets it)", EnvPostgres)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "core_test_" + hex.EncodeToString(buf)
	if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("creating database %s on %s: %v", name, EnvPostgres, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return Database{Kind: "postgres", URL: u.String()}
}
