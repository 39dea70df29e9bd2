package store

import (
	"context"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// Reads through prepared statements: concurrent loads (more than one connection)
// all see the row, each text is prepared once, and a change is seen by the next read.
func TestPreparedReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		d := Domain{Name: "example.test"}
		if err := s.CreateDomain(ctx, &d); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, err := s.Domain(ctx, d.ID); err != nil || got.Name != "example.test" {
					t.Errorf("concurrent load: %+v %v", got, err)
				}
			}()
		}
		wg.Wait()
		texts := 0
		s.statements.Range(func(_, _ any) bool { texts++; return true })
		if texts == 0 {
			t.Error("no statement kept")
		}
		d.Name = "renamed.test"
		if err := s.UpdateDomain(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Domain(ctx, d.ID); got.Name != "renamed.test" {
			t.Errorf("after the change: %q", got.Name)
		}
	})
}
