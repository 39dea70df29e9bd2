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

// WriteMetrics reports the DHCP server's datagram counters on GET /metrics, and
// with :state_backend: etcd the state of the node's etcd copy.
func (p *Provider) WriteMetrics(w *metrics.Writer) {
	if p.srv == nil {
		return
	}
	s := &p.srv.stats
	w.Counter("smartproxy_dhcp_received_total", "DHCP datagrams received.", float64(s.received.Load()))
	w.Counter("smartproxy_dhcp_malformed_total", "Datagrams that did not parse as DHCPv4.", float64(s.malformed.Load()))
	w.Counter("smartproxy_dhcp_ignored_total", "Datagrams not for us (other interfaces, other servers, unknown types).", float64(s.ignored.Load()))
	w.Counter("smartproxy_dhcp_replies_total", "Replies sent (OFFER, ACK, NAK).", float64(s.replies.Load()))
	w.Counter("smartproxy_dhcp_journal_errors_total", "Lease writes (journal or etcd) that failed (those requests got no ACK).", float64(s.journalErrors.Load()))
	sh := p.st.shared
	if sh == nil {
		w.Counter("smartproxy_dhcp_journal_commits_total", "Journal writes, each followed by one fdatasync with :fsync: true (group commits: many leases and reservations each).", float64(p.st.journal.commits.Load()))
		return
	}
	st := sh.mirror.Status()
	w.Counter("smartproxy_dhcp_etcd_commits_total", "Leases and reservations written to etcd.", float64(sh.commits.Load()))
	w.Counter("smartproxy_dhcp_etcd_transactions_total", "etcd transactions that wrote them (a turn's leases go in one while no compare fails).", float64(sh.txns.Load()))
	w.Counter("smartproxy_dhcp_etcd_claims_lost_total", "Writes another proxy's write beat (that client got no ACK and retries).", float64(sh.lost.Load()))
	w.Counter("smartproxy_dhcp_etcd_shed_total", "Lease writes dropped unanswered because they waited over 500 ms for etcd (the client retries).", float64(sh.shed.Load()))
	w.Counter("smartproxy_dhcp_etcd_renewals_from_copy_total", "Renewals answered from the local copy without a write (no quorum, or etcd behind), capped to the expiry etcd holds.", float64(sh.fromCopy.Load()))
	w.Gauge("smartproxy_dhcp_etcd_writable", "1 while writes reach etcd, 0 after one found no quorum (new leases and API writes refused).", boolGauge(sh.writable()))
	w.Gauge("smartproxy_dhcp_etcd_revision", "etcd revision the node's local copy is complete up to.", float64(st.Revision))
	w.Gauge("smartproxy_dhcp_etcd_revision_lag", "Revisions the cluster is ahead of the local copy (asked every 2 s).", float64(st.Lag))
	w.Gauge("smartproxy_dhcp_etcd_watch_up", "1 while the watch runs, 0 while it resyncs (member lost, no quorum).", boolGauge(st.Watch == etcdstate.WatchWatching))
	w.Counter("smartproxy_dhcp_etcd_resyncs_total", "Times the watch broke and the copy was read again from etcd.", float64(st.Resyncs))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ExposedSettings shows the state backend in /v2/features; with etcd also the live
// state of the node's copy (watch state, revision, lag), read when the page is.
func (p *Provider) ExposedSettings() map[string]any {
	if p.cfg == nil {
		return map[string]any{"state_backend": nil}
	}
	if !p.cfg.state.Etcd() {
		return map[string]any{"state_backend": etcdstate.BackendJournal}
	}
	return map[string]any{"state_backend": etcdstate.BackendEtcd, "etcd_state": liveState{p}}
}

// liveState renders the etcd copy's status at the time /v2/features is encoded.
type liveState struct{ p *Provider }

func (l liveState) MarshalJSON() ([]byte, error) {
	st := l.p.st
	if st == nil || st.shared == nil {
		return json.Marshal(etcdstate.Status{Backend: etcdstate.BackendEtcd, Endpoints: strings.Join(l.p.cfg.state.Endpoints, ","),
			Prefix: l.p.cfg.state.Prefix + sharedPrefix, Watch: etcdstate.WatchStopped})
	}
	return json.Marshal(st.shared.mirror.Status())
}
