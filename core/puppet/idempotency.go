package puppet

import (
	"context"
	"sync"

	"github.com/labstack/echo/v4"
)

// IdempotencyKeyHeader is what zone relays (features/relay) send with every queued
// fact upload and config report: a relay sends a request again, with the same key,
// when it crashed between the core's answer and recording the delivery.
const IdempotencyKeyHeader = "Idempotency-Key"

// rememberedKeys bounds the keys kept (oldest forgotten first): a relay sends a
// repeat within seconds of the first delivery, so the last 100,000 cover it.
const rememberedKeys = 100000

// replays remembers which idempotency keys were answered with a 2xx. It lives in
// memory: a key answered just before the core stops is forgotten by the next start.
type replays struct {
	mu       sync.Mutex
	done     map[string]int // key -> status of the first answer
	order    []string       // ring of keys in arrival order, for eviction
	next     int
	inflight map[string]chan struct{}
}

func newReplays() *replays {
	return &replays{done: map[string]int{}, inflight: map[string]chan struct{}{}}
}

// idempotent stores a request carrying an Idempotency-Key once: a repeat gets the
// first answer's status and {"message": ...} without being stored again; a repeat
// arriving while the first is still being stored waits for it.
func (s *Service) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get(IdempotencyKeyHeader)
		if key == "" || len(key) > 128 {
			return next(c)
		}
		r := s.replays
		for {
			r.mu.Lock()
			if status, ok := r.done[key]; ok {
				r.mu.Unlock()
				s.log.Infof("Request with Idempotency-Key %s already stored; not storing it again", key)
				return message(c, status, "Already stored (Idempotency-Key %s)", key)
			}
			wait, busy := r.inflight[key]
			if !busy {
				r.inflight[key] = make(chan struct{})
				r.mu.Unlock()
				break
			}
			r.mu.Unlock()
			select {
			case <-wait:
			case <-c.Request().Context().Done():
				return c.Request().Context().Err()
			}
		}
		// Once started, a keyed request runs to its end even if the sender goes away
		// (a relay stopping mid-delivery): stored but unanswered, it must still be
		// remembered, or the sender's repeat would be stored a second time.
		c.SetRequest(c.Request().WithContext(context.WithoutCancel(c.Request().Context())))
		err := next(c)
		status := c.Response().Status
		r.mu.Lock()
		// A 2xx status sent means stored, whether or not its body reached the sender.
		if c.Response().Committed && status >= 200 && status < 300 {
			r.remember(key, status)
		}
		close(r.inflight[key])
		delete(r.inflight, key)
		r.mu.Unlock()
		return err
	}
}

// remember records key, forgetting the oldest past rememberedKeys. Called with mu held.
func (r *replays) remember(key string, status int) {
	if len(r.order) < rememberedKeys {
		r.order = append(r.order, key)
	} else {
		delete(r.done, r.order[r.next])
		r.order[r.next] = key
		r.next = (r.next + 1) % rememberedKeys
	}
	r.done[key] = status
}
