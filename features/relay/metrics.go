package relay

import (
	"encoding/json"
	"time"

	"github.com/smartproxy/smartproxy/metrics"
)

// WriteMetrics reports the queue and delivery state for GET /metrics.
func (f *Feature) WriteMetrics(w *metrics.Writer) {
	if f.queue == nil {
		return
	}
	st := f.queue.Stats()
	w.Gauge("smartproxy_relay_queue_depth", "Queued facts and reports not yet delivered to the next hop.", float64(st.Depth))
	w.Gauge("smartproxy_relay_queue_bytes", "Bytes of queued requests not yet delivered.", float64(st.Bytes))
	w.Gauge("smartproxy_relay_queue_oldest_age_seconds", "Age of the oldest undelivered request (0 when the queue is empty).", oldestAge(st).Seconds())
	w.Counter("smartproxy_relay_queued_total", "Requests acknowledged and queued since start.", float64(st.Appended))
	w.Counter("smartproxy_relay_delivered_total", "Queued requests the next hop accepted.", float64(f.counters.delivered.Load()))
	w.Counter("smartproxy_relay_dropped_total", "Queued requests the next hop refused with a 4xx (final; logged).", float64(f.counters.dropped.Load()))
	w.Counter("smartproxy_relay_delivery_errors_total", "Delivery attempts that failed (connection error or 5xx) and were retried.", float64(f.counters.errors.Load()))
	w.Counter("smartproxy_relay_queue_full_total", "Requests refused with 503 because the queue was at a limit.", float64(f.queueFull.Load()))
	w.Counter("smartproxy_relay_enc_stale_total", "ENC answers served from the cache because the next hop did not answer.", float64(f.staleServed.Load()))
}

func oldestAge(st QueueStats) time.Duration {
	if st.Oldest.IsZero() {
		return 0
	}
	return time.Since(st.Oldest)
}

// queueView is the live queue state in /v2/features: the registry copies exposed
// settings once, so the value renders itself each time it is encoded.
type queueView struct{ f *Feature }

func (v queueView) MarshalJSON() ([]byte, error) {
	if v.f.queue == nil {
		return []byte("null"), nil
	}
	st := v.f.queue.Stats()
	last, _ := v.f.counters.lastError.Load().(string)
	return json.Marshal(map[string]any{
		"depth":              st.Depth,
		"bytes":              st.Bytes,
		"oldest_age_seconds": int64(oldestAge(st).Seconds()),
		"max_entries":        v.f.limits.MaxEntries,
		"max_bytes":          v.f.limits.MaxBytes,
		"delivered":          v.f.counters.delivered.Load(),
		"dropped":            v.f.counters.dropped.Load(),
		"delivery_errors":    v.f.counters.errors.Load(),
		"last_error":         last,
	})
}
