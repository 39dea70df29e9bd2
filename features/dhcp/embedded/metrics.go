package embedded

import (
	"github.com/smartproxy/smartproxy/metrics"
	"github.com/smartproxy/smartproxy/registry"
)

var _ registry.MetricsReporter = (*Provider)(nil)

// WriteMetrics reports the DHCP server's datagram counters on GET /metrics.
func (p *Provider) WriteMetrics(w *metrics.Writer) {
	if p.srv == nil {
		return
	}
	s := &p.srv.stats
	w.Counter("smartproxy_dhcp_received_total", "DHCP datagrams received.", float64(s.received.Load()))
	w.Counter("smartproxy_dhcp_malformed_total", "Datagrams that did not parse as DHCPv4.", float64(s.malformed.Load()))
	w.Counter("smartproxy_dhcp_ignored_total", "Datagrams not for us (other interfaces, other servers, unknown types).", float64(s.ignored.Load()))
	w.Counter("smartproxy_dhcp_replies_total", "Replies sent (OFFER, ACK, NAK).", float64(s.replies.Load()))
	w.Counter("smartproxy_dhcp_journal_commits_total", "Journal writes, each followed by one fdatasync with :fsync: true (group commits: many leases and reservations each).", float64(p.st.journal.commits.Load()))
	w.Counter("smartproxy_dhcp_journal_errors_total", "Lease journal writes that failed (those requests got no ACK).", float64(s.journalErrors.Load()))
}
