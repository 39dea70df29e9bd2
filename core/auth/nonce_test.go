package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNonceStore(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newNonceStore(5*time.Minute, 3)
	if err := s.remember("a", now.Unix(), now); err != nil {
		t.Fatal(err)
	}
	if err := s.remember("a", now.Unix(), now); !errors.Is(err, errReplayed) {
		t.Errorf("same nonce and timestamp: %v, want replayed", err)
	}
	if err := s.remember("a", now.Unix()+1, now); err != nil {
		t.Errorf("same nonce, other timestamp: %v", err)
	}
	if err := s.remember("b", now.Unix()-200, now); err != nil {
		t.Fatal(err)
	}
	if err := s.remember("c", now.Unix(), now); !errors.Is(err, errNonceStoreFull) {
		t.Errorf("fourth live nonce in a store of 3: %v, want full", err)
	}
	// b (timestamp now-200) expires at now+100; a at now+300.
	later := now.Add(101 * time.Second)
	if err := s.remember("c", later.Unix(), later); err != nil {
		t.Errorf("after b expired there is room: %v", err)
	}
	if err := s.remember("a", now.Unix(), later); !errors.Is(err, errReplayed) {
		t.Errorf("a is still inside its window: %v, want replayed", err)
	}
	// At exactly timestamp+window the timestamp is still accepted, so the nonce is kept.
	edge := now.Add(5 * time.Minute)
	if err := s.remember("a", now.Unix(), edge); !errors.Is(err, errReplayed) {
		t.Errorf("at the window's edge: %v, want replayed", err)
	}
}

// Filling the store and letting it expire leaves nothing behind.
func TestNonceStoreForgetsExpired(t *testing.T) {
	now := time.Unix(2_000_000, 0)
	s := newNonceStore(time.Minute, 1000)
	for i := range 1000 {
		if err := s.remember(fmt.Sprint(i), now.Unix()-int64(i%60), now); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(2 * time.Minute)
	if err := s.remember("x", later.Unix(), later); err != nil {
		t.Fatal(err)
	}
	if len(s.seen) != 1 || len(s.expires) != 1 {
		t.Errorf("store holds %d nonces (%d expiries), want 1", len(s.seen), len(s.expires))
	}
}
