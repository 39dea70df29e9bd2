package embedded

import (
	"encoding/json"
	"strings"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/metrics"
	"github.com/smartproxy/smartproxy/registry"
)

var (
	_ registry.MetricsReporter = (*Provider)(nil)
	_ registry.Exposer         = (*Provider)(nil)
)

// WriteMetrics reports the authoritative server's counters on GET /metrics.
func (p *Provider) WriteMetrics(w *metrics.Writer) {
	if p.handler == nil {
		return
	}
	s := p.handler.Stats()
	w.Counter("smartproxy_dns_embedded_queries_total", "DNS queries answered by the embedded server.", float64(s.Queries))
	w.Counter("smartproxy_dns_embedded_cached_answers_total", "Queries answered from the answer cache.", float64(s.Cached))
	w.Counter("smartproxy_dns_embedded_updates_total", "RFC 2136 updates applied.", float64(s.Updates))
	w.Counter("smartproxy_dns_embedded_refused_total", "Messages refused (outside our zones, unsigned updates).", float64(s.Refused))
	if p.store == nil || p.store.shared == nil || p.store.shared.mirror() == nil {
		return
	}
	st := p.store.shared.mirror().Status()
	w.Gauge("smartproxy_dns_embedded_etcd_revision", "etcd revision the node's copy of the zones is complete up to.", float64(st.Revision))
	w.Gauge("smartproxy_dns_embedded_etcd_revision_lag", "Revisions the cluster is ahead of the copy (asked every 2 s).", float64(st.Lag))
	w.Gauge("smartproxy_dns_embedded_etcd_watch_up", "1 while the watch runs, 0 while it resyncs (member lost, no quorum).", boolGauge(st.Watch == etcdstate.WatchWatching))
	w.Counter("smartproxy_dns_embedded_etcd_resyncs_total", "Times the watch broke and the zones were read again from etcd.", float64(st.Resyncs))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ExposedSettings shows the state backend in /v2/features; with etcd also the live
// state of the node's copy, read when the page is.
func (p *Provider) ExposedSettings() map[string]any {
	if !p.cfg.state.Etcd() {
		return map[string]any{"state_backend": etcdstate.BackendJournal}
	}
	return map[string]any{"state_backend": etcdstate.BackendEtcd, "etcd_state": liveState{p}}
}

type liveState struct{ p *Provider }

func (l liveState) MarshalJSON() ([]byte, error) {
	if s := l.p.store; s != nil && s.shared != nil && s.shared.mirror() != nil {
		return json.Marshal(s.shared.mirror().Status())
	}
	c := l.p.cfg.state
	return json.Marshal(etcdstate.Status{Backend: etcdstate.BackendEtcd, Endpoints: strings.Join(c.Endpoints, ","),
		Prefix: c.Prefix + dnsPrefix, Watch: etcdstate.WatchStopped})
}
