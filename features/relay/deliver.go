package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// backoff bounds the wait between attempts while the next hop is down.
type backoff struct {
	initial, max time.Duration
}

func (b backoff) next(cur time.Duration) time.Duration {
	if cur <= 0 {
		return b.initial
	}
	return min(2*cur, b.max)
}

// deliveryCounters are the delivery loop's totals, for /metrics and v2.
type deliveryCounters struct {
	delivered atomic.Uint64 // 2xx from the next hop
	dropped   atomic.Uint64 // final 4xx: logged and removed
	errors    atomic.Uint64 // failed attempts (connection errors, 5xx), each retried
	lastError atomic.Value  // string
}

// deliverer sends the queue's records to the next hop, oldest first, one at a time, so
// the core receives them in the order the relay acknowledged them.
type deliverer struct {
	queue    *Queue
	hop      *hop
	backoff  backoff
	timeout  time.Duration
	log      *logrus.Entry
	counters *deliveryCounters
}

// run delivers until ctx ends.
func (d *deliverer) run(ctx context.Context) {
	var wait time.Duration
	failing := false
	var backSince time.Time // when the hop answered again after an outage; zero otherwise
	backCount := 0
	for {
		rec, err := d.queue.Head(ctx.Done())
		if errors.Is(err, errQueueClosed) {
			return
		}
		if err != nil {
			// Damaged on disk since it was acknowledged: it can never be sent, and
			// waiting on it would hold back everything behind it.
			d.counters.dropped.Add(1)
			d.log.Errorf("Relay: %v; dropped", err)
			if err := d.queue.Commit(); err != nil {
				d.log.Errorf("Relay: %v; delivery stopped", err)
				return
			}
			continue
		}
		status, err := d.attempt(ctx, rec)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && status < 400:
			if failing {
				st := d.queue.Stats()
				d.log.Infof("Relay: next hop %s answers again; %d queued requests to deliver", d.hop.base.Redacted(), st.Depth)
				failing = false
				backSince, backCount = time.Now(), 0
			}
			d.counters.delivered.Add(1)
			wait = 0
		case err == nil && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			// The hop understood and refused it: sending it again would be refused again.
			d.counters.dropped.Add(1)
			d.log.Errorf("Relay: %s %s (key %s, queued %s) refused by the next hop with %d; dropped",
				rec.Method, rec.Target, rec.Key, rec.Enqueued.UTC().Format(time.RFC3339), status)
			wait = 0
		default:
			if err == nil {
				err = fmt.Errorf("HTTP %d", status)
			}
			d.counters.errors.Add(1)
			d.counters.lastError.Store(err.Error())
			wait = d.backoff.next(wait)
			st := d.queue.Stats()
			d.log.Warnf("Relay: delivering %s %s to %s failed: %v; %d queued, oldest %s old; retrying in %s",
				rec.Method, rec.Target, d.hop.base.Redacted(), err, st.Depth, time.Since(st.Oldest).Round(time.Second), wait)
			failing = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		if err := d.queue.Commit(); err != nil {
			// The position could not be stored: stop rather than deliver out of step.
			d.log.Errorf("Relay: %v; delivery stopped", err)
			return
		}
		if !backSince.IsZero() {
			backCount++
			if d.queue.Stats().Depth == 0 {
				d.log.Infof("Relay: queue drained: %d requests delivered in %s since the next hop came back",
					backCount, time.Since(backSince).Round(time.Millisecond))
				backSince = time.Time{}
			}
		}
	}
}

// attempt sends one record and returns the hop's status.
func (d *deliverer) attempt(ctx context.Context, rec Record) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	header := rec.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set(IdempotencyKeyHeader, rec.Key)
	resp, err := d.hop.send(ctx, rec.Method, rec.Target, header, bytes.NewReader(rec.Body), int64(len(rec.Body)))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}
