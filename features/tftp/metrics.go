package tftp

import (
	"github.com/smartproxy/smartproxy/metrics"
	"github.com/smartproxy/smartproxy/registry"
)

var _ registry.MetricsReporter = (*Feature)(nil)

// WriteMetrics reports the embedded TFTP server's counters on GET /metrics.
func (f *Feature) WriteMetrics(w *metrics.Writer) {
	s := f.Stats()
	w.Counter("smartproxy_tftp_requests_total", "TFTP read requests accepted.", float64(s.Requests))
	w.Counter("smartproxy_tftp_transfers_total", "TFTP transfers by outcome.", float64(s.Completed), "outcome", "completed")
	w.Counter("smartproxy_tftp_transfers_total", "TFTP transfers by outcome.", float64(s.Aborted), "outcome", "aborted")
	w.Counter("smartproxy_tftp_transfers_total", "TFTP transfers by outcome.", float64(s.Failed), "outcome", "failed")
	w.Counter("smartproxy_tftp_refused_total", "Requests refused: malformed, write, not found, access violation, busy.", float64(s.Refused))
	w.Counter("smartproxy_tftp_sent_bytes_total", "File bytes acknowledged by clients.", float64(s.BytesSent))
	w.Gauge("smartproxy_tftp_active_transfers", "Transfers running now.", float64(s.Active))
}
