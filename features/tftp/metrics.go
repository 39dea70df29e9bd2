package tftp

import (
	"encoding/json"
	"strings"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
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
	f.writeEtcdMetrics(w)
}

// writeEtcdMetrics reports the node's copy of the shared configs (etcd backend).
func (f *Feature) writeEtcdMetrics(w *metrics.Writer) {
	sh := f.shared.Load()
	if sh == nil {
		return
	}
	st := sh.mirror.Status()
	w.Gauge("smartproxy_tftp_etcd_revision", "etcd revision the node's copy of the PXE configs is complete up to.", float64(st.Revision))
	w.Gauge("smartproxy_tftp_etcd_revision_lag", "Revisions the cluster is ahead of the copy (asked every 2 s).", float64(st.Lag))
	w.Gauge("smartproxy_tftp_etcd_watch_up", "1 while the watch runs, 0 while it resyncs (member lost, no quorum).", boolGauge(st.Watch == etcdstate.WatchWatching))
	w.Counter("smartproxy_tftp_etcd_resyncs_total", "Times the watch broke and the configs were read again from etcd.", float64(st.Resyncs))
	w.Counter("smartproxy_tftp_etcd_applied_total", "etcd keys whose files this node wrote or removed.", float64(sh.applies.Load()))
	w.Counter("smartproxy_tftp_etcd_apply_errors_total", "etcd keys whose files this node failed to write (it keeps the old ones).", float64(sh.applyErrors.Load()))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// liveState is the etcd copy's status in /v2/features, with this node's last
// failure to write a key's files.
type liveState struct{ f *Feature }

func (l liveState) MarshalJSON() ([]byte, error) {
	type status struct {
		etcdstate.Status
		LastApplyError string                            `json:"last_apply_error,omitempty"`
		Node           string                            `json:"node"`
		Fetches        map[string]map[string]fetchStatus `json:"fetches"` // node -> boot|image/<file> -> outcome
	}
	sh := l.f.shared.Load()
	if sh == nil {
		c := l.f.cfg.state
		return json.Marshal(etcdstate.Status{Backend: etcdstate.BackendEtcd, Endpoints: strings.Join(c.Endpoints, ","),
			Prefix: c.Prefix + sharedPrefix, Watch: etcdstate.WatchStopped})
	}
	st := status{Status: sh.mirror.Status(), Node: sh.node, Fetches: sh.fetchStatuses()}
	if e := sh.lastApplyError.Load(); e != nil {
		st.LastApplyError = *e
	}
	return json.Marshal(st)
}
