package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// The key and the write are one transaction: a failed write records no key (the
// request may be sent again), a committed one is found by a store opened afterwards
// (a restarted core), whose repeat writes nothing; old keys expire.
func TestWriteOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		h := Host{Name: "web01.example.test"}
		if err := s.CreateHost(ctx, &h); err != nil {
			t.Fatal(err)
		}
		report := func(w KeyedWrite) (KeyedAnswer, error) {
			r := ConfigReport{HostID: h.ID, ReportedAt: time.Now(), Metrics: []byte(`{}`), Logs: []byte(`[]`)}
			return KeyedAnswer{Status: 201, Body: []byte(`{"id":1}`)}, w.CreateConfigReport(&r)
		}
		reports := func(s *Store) int {
			c, _, err := s.ListConfigReports(ctx, ListOptions{PerPage: 100})
			if err != nil {
				t.Fatal(err)
			}
			return c.Total
		}

		broken := errors.New("disk full")
		_, _, err := s.WriteOnce(ctx, "k1", func(w KeyedWrite) (KeyedAnswer, error) {
			if _, err := report(w); err != nil {
				return KeyedAnswer{}, err
			}
			return KeyedAnswer{}, broken
		})
		if !errors.Is(err, broken) {
			t.Fatalf("failed write: %v", err)
		}
		if _, err := s.KeyedAnswer(ctx, "k1"); !errors.Is(err, ErrNotFound) || reports(s) != 0 {
			t.Fatalf("a rolled back write left its key (%v) or its report (%d)", err, reports(s))
		}

		if a, replayed, err := s.WriteOnce(ctx, "k1", report); err != nil || replayed || a.Status != 201 {
			t.Fatalf("first write: %+v %v %v", a, replayed, err)
		}
		s.Close()
		s = open(t, db)
		a, replayed, err := s.WriteOnce(ctx, "k1", report)
		if err != nil || !replayed || a.Status != 201 || string(a.Body) != `{"id":1}` {
			t.Fatalf("repeat after reopen: %+v %s replayed %v %v", a, a.Body, replayed, err)
		}
		if n := reports(s); n != 1 {
			t.Fatalf("%d reports after the repeat, want 1", n)
		}
		// No key: written each time, nothing recorded.
		s.WriteOnce(ctx, "", report)
		s.WriteOnce(ctx, "", report)
		if n := reports(s); n != 3 {
			t.Fatalf("%d reports, want 3", n)
		}

		if n, err := s.ExpireIdempotencyKeys(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("expired %d fresh keys (%v)", n, err)
		}
		if n, err := s.ExpireIdempotencyKeys(ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("expired %d keys, want 1 (%v)", n, err)
		}
		if _, err := s.KeyedAnswer(ctx, "k1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired key still answered: %v", err)
		}
	})
}
