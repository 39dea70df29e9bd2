package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// A name is held until released, across two store handles (two core processes); a
// reservation older than stale is taken over, and the old holder's release then
// leaves the new holder's row alone.
func TestReserveHostName(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		one, two := open(t, db), open(t, db)
		release, err := one.ReserveHostName(ctx, "web01.example.test", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var conflict *ConflictError
		if _, err := two.ReserveHostName(ctx, "web01.example.test", time.Hour); !errors.As(err, &conflict) || conflict.Field != "name" {
			t.Fatalf("second reservation: %v, want a name conflict", err)
		}
		if _, err := two.ReserveHostName(ctx, "web02.example.test", time.Hour); err != nil {
			t.Fatalf("another name: %v", err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		stale, err := two.ReserveHostName(ctx, "web01.example.test", time.Hour)
		if err != nil {
			t.Fatalf("after release: %v", err)
		}

		time.Sleep(20 * time.Millisecond)
		takeover, err := one.ReserveHostName(ctx, "web01.example.test", 10*time.Millisecond)
		if err != nil {
			t.Fatalf("taking over a stale reservation: %v", err)
		}
		if err := stale(); err != nil {
			t.Fatal(err)
		}
		if _, err := two.ReserveHostName(ctx, "web01.example.test", time.Hour); !errors.As(err, &conflict) {
			t.Fatalf("the stale holder's release freed the new holder's name: %v", err)
		}
		if err := takeover(); err != nil {
			t.Fatal(err)
		}
	})
}
