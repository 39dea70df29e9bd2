package embedded

import (
	"github.com/smartproxy/smartproxy/metrics"
	"github.com/smartproxy/smartproxy/registry"
)

var _ registry.MetricsReporter = (*Provider)(nil)

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
}
