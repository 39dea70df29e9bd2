package embedded

import (
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
)

// Handler turns DNS messages into replies: the cached fast path for repeated plain
// queries, the full path (respond) for everything else.
type Handler struct {
	store *Store
	keys  tsigkey.Ring
	cache atomic.Pointer[answerCache]
	log   *logrus.Entry
	stats stats
}

// stats counts messages; read them with Stats.
type stats struct {
	queries, cached, updates, refused atomic.Uint64
}

// Stats is a snapshot of the counters.
type Stats struct {
	Queries, Cached, Updates, Refused uint64
}

func newHandler(store *Store, keys tsigkey.Ring, log *logrus.Entry) *Handler {
	h := &Handler{store: store, keys: keys, log: log}
	h.cache.Store(newAnswerCache())
	store.changed = func() { h.cache.Store(newAnswerCache()) }
	return h
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	return Stats{Queries: h.stats.queries.Load() + h.stats.cached.Load(), Cached: h.stats.cached.Load(),
		Updates: h.stats.updates.Load(), Refused: h.stats.refused.Load()}
}

// scratch is one listener goroutine's buffers, reused for every message, and its
// count of cached answers not yet added to the shared counter (one atomic add per
// batch rather than per query keeps the cores from fighting over a cache line).
type scratch struct {
	key, out []byte
	cached   uint64
}

// flush adds what s counted to the handler's counters.
func (h *Handler) flush(s *scratch) {
	if s.cached > 0 {
		h.stats.cached.Add(s.cached)
		s.cached = 0
	}
}

func newScratch() *scratch {
	return &scratch{key: make([]byte, 0, 300), out: make([]byte, 0, 4096)}
}

// Handle answers one message received over UDP or TCP; nil means send nothing. The
// reply may live in s and is valid until the next call with s.
func (h *Handler) Handle(raw []byte, tcp bool, s *scratch) []byte {
	key, limit, quick := quickKey(raw, s.key[:0])
	if tcp {
		limit = 65535
	}
	// Take the cache before reading the records: an answer built from records that
	// change meanwhile then lands in a cache that is already being dropped.
	cache := h.cache.Load()
	if quick {
		if cached := cache.get(key); cached != nil && len(cached) <= limit {
			s.cached++
			out := append(s.out[:0], cached...)
			patch(out, raw)
			s.out = out
			return out
		}
	}
	reply, cacheable := h.respond(raw, tcp)
	if quick && cacheable {
		cache.put(key, reply)
	}
	return reply
}
