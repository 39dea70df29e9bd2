package auth

import (
	"container/heap"
	"errors"
	"strconv"
	"sync"
	"time"
)

var (
	errReplayed       = errors.New("oauth_nonce already used with this oauth_timestamp")
	errNonceStoreFull = errors.New("nonce store full: too many signed requests within the replay window")
)

// nonceStore remembers the nonce+timestamp pairs of verified requests until their
// timestamp falls out of the window (after that the timestamp check refuses a
// replay on its own). It is bounded: when full of live entries it refuses new
// requests instead of forgetting live ones, because forgetting would reopen exactly
// the replays it exists to stop. Only requests with a valid signature reach it.
type nonceStore struct {
	window   int64 // seconds
	capacity int

	mu      sync.Mutex
	seen    map[string]struct{}
	expires expiryHeap
}

func newNonceStore(window time.Duration, capacity int) *nonceStore {
	return &nonceStore{window: int64(window / time.Second), capacity: capacity, seen: map[string]struct{}{}}
}

// remember records nonce at timestamp, or says it was used already.
func (s *nonceStore) remember(nonce string, timestamp int64, now time.Time) error {
	key := strconv.FormatInt(timestamp, 10) + ":" + nonce
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.expires) > 0 && s.expires[0].at < now.Unix() {
		delete(s.seen, heap.Pop(&s.expires).(expiry).key)
	}
	if _, used := s.seen[key]; used {
		return errReplayed
	}
	if len(s.seen) >= s.capacity {
		return errNonceStoreFull
	}
	s.seen[key] = struct{}{}
	heap.Push(&s.expires, expiry{at: timestamp + s.window, key: key})
	return nil
}

// expiry says when (unix seconds) a remembered key may be forgotten.
type expiry struct {
	at  int64
	key string
}

// expiryHeap is a min-heap on at; nonces arrive in any timestamp order.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}
