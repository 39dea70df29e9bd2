package store

import (
	"context"
	"errors"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// Under WithReadCache a subnet is read from the database once (a change made since is
// not seen); a missing id is not remembered; without the cache every load reads.
func TestReadCache(t *testing.T) {
	ctx := context.Background()
	s := open(t, storetest.SQLite(t))
	n := Subnet{Name: "lab", Network: "192.0.2.0", Mask: "255.255.255.0"}
	if err := s.CreateSubnet(ctx, &n); err != nil {
		t.Fatal(err)
	}
	cached := WithReadCache(ctx)
	if _, err := s.Subnet(cached, n.ID+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing subnet: %v", err)
	}
	if got, err := s.Subnet(cached, n.ID); err != nil || got.Name != "lab" {
		t.Fatalf("first load: %+v %v", got, err)
	}
	n.Name = "renamed"
	if err := s.UpdateSubnet(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Subnet(cached, n.ID); got.Name != "lab" {
		t.Errorf("cached load = %q, want the first load's lab", got.Name)
	}
	if got, _ := s.Subnet(ctx, n.ID); got.Name != "renamed" {
		t.Errorf("uncached load = %q, want renamed", got.Name)
	}
	other := Subnet{Name: "other", Network: "198.51.100.0", Mask: "255.255.255.0"}
	if err := s.CreateSubnet(ctx, &other); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Subnet(cached, other.ID); err != nil || got.Name != "other" {
		t.Errorf("a not-found id was remembered: %+v %v", got, err)
	}
}
