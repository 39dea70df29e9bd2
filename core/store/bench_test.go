package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// BenchmarkListHosts is one index page (20 hosts, each with its parameters and facet)
// out of 10,000, by exact name and by a substring search.
//
//	go test -run - -bench ListHosts ./core/store/
func BenchmarkListHosts(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			db := storetest.SQLite(b)
			if kind == "postgres" {
				db = storetest.Postgres(b)
			}
			s, err := Open(context.Background(), db.URL)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			fill(b, s, 10000)
			for name, q := range map[string]string{"exact": `name = "host05000.example.test"`, "contains": `name ~ 99`} {
				parsed, _ := search.Parse(q)
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if _, _, err := s.ListHosts(context.Background(), ListOptions{Search: parsed, PerPage: 20}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// fill inserts n hosts in one transaction (creating them one by one would time the
// fsync of n commits instead of the query).
func fill(b *testing.B, s *Store, n int) {
	tx, err := s.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	at := now()
	for i := 0; i < n; i++ {
		if _, err := tx.Exec(`INSERT INTO hosts (name, mac, created_at, updated_at) VALUES ($1, $2, $3, $3)`,
			fmt.Sprintf("host%05d.example.test", i), fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256), at); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
