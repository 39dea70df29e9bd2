package puppet

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// IdempotencyKeyHeader is what zone relays (features/relay) send with every queued
// fact upload and config report: a relay sends a request again, with the same key,
// when it crashed between the core's answer and recording the delivery.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader marks the answer to a repeat: the first answer, not stored again.
const ReplayedHeader = "Idempotent-Replayed"

// maxKeyLength is the longest key honoured (what relays send); a longer one is ignored.
const maxKeyLength = 128

// DefaultKeyRetention is how long a key is remembered when Options.KeyRetention is 0:
// a relay repeats a request right after it restarts, so days are ample.
const DefaultKeyRetention = 7 * 24 * time.Hour

// keyContext is where idempotent leaves the request's key for storeOnce.
const keyContext = "puppet.idempotency_key"

// idempotent answers a repeat of a keyed request with the first answer (status and
// body, from the database, so it holds across restarts and between cores) without
// running the handler; a first arrival runs the handler, whose storeOnce records the
// key in the transaction that stores the request.
func (s *Service) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get(IdempotencyKeyHeader)
		if key == "" || len(key) > maxKeyLength {
			return next(c)
		}
		answer, err := s.store.KeyedAnswer(c.Request().Context(), key)
		if err == nil {
			return s.replay(c, key, answer)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// Once started, a keyed request runs to its end even if the sender goes away
		// (a relay stopping mid-delivery): stored but unanswered, its key must still
		// be recorded, and a cancelled context would roll the transaction back.
		c.SetRequest(c.Request().WithContext(context.WithoutCancel(c.Request().Context())))
		c.Set(keyContext, key)
		return next(c)
	}
}

// storeOnce runs write in one transaction with the request's Idempotency-Key (when it
// has one) and answers with the status and body write returns. A repeat that raced
// this one and committed first makes write roll back, and its answer is given instead.
func (s *Service) storeOnce(c echo.Context, write func(w store.KeyedWrite) (status int, body any, err error)) error {
	key, _ := c.Get(keyContext).(string)
	answer, replayed, err := s.store.WriteOnce(c.Request().Context(), key, func(w store.KeyedWrite) (store.KeyedAnswer, error) {
		status, body, err := write(w)
		if err != nil {
			return store.KeyedAnswer{}, err
		}
		data, err := json.Marshal(body)
		return store.KeyedAnswer{Status: status, Body: data}, err
	})
	if err != nil {
		return err
	}
	if replayed {
		return s.replay(c, key, answer)
	}
	return c.JSONBlob(answer.Status, answer.Body)
}

func (s *Service) replay(c echo.Context, key string, answer store.KeyedAnswer) error {
	s.log.Infof("Request with Idempotency-Key %s already stored; answering as the first time", key)
	c.Response().Header().Set(ReplayedHeader, "true")
	return c.JSONBlob(answer.Status, answer.Body)
}

// ExpireIdempotencyKeys forgets the keys older than the key retention.
func (s *Service) ExpireIdempotencyKeys(ctx context.Context) (int64, error) {
	return s.store.ExpireIdempotencyKeys(ctx, time.Now().Add(-s.keyRetention()))
}

func (s *Service) keyRetention() time.Duration {
	if s.opts.KeyRetention > 0 {
		return s.opts.KeyRetention
	}
	return DefaultKeyRetention
}
