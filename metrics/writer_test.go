package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestExpositionFormat(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	w.Counter("smartproxy_dns_queries_total", "DNS queries answered.", 42, "zone", "example.test")
	w.Counter("smartproxy_dns_queries_total", "DNS queries answered.", 7, "zone", `we"ird`)
	w.Gauge("smartproxy_dhcp_leases", "Active leases.", 3)
	h := NewHistogram(0.001, 0.01)
	h.Observe(500 * time.Microsecond)
	h.Observe(5 * time.Millisecond)
	h.Observe(time.Second)
	w.Histogram("smartproxy_http_request_duration_seconds", "Request latency.", h, "listener", "https")
	want := `# HELP smartproxy_dns_queries_total DNS queries answered.
# TYPE smartproxy_dns_queries_total counter
smartproxy_dns_queries_total{zone="example.test"} 42
smartproxy_dns_queries_total{zone="we\"ird"} 7
# HELP smartproxy_dhcp_leases Active leases.
# TYPE smartproxy_dhcp_leases gauge
smartproxy_dhcp_leases 3
# HELP smartproxy_http_request_duration_seconds Request latency.
# TYPE smartproxy_http_request_duration_seconds histogram
smartproxy_http_request_duration_seconds_bucket{listener="https",le="0.001"} 1
smartproxy_http_request_duration_seconds_bucket{listener="https",le="0.01"} 2
smartproxy_http_request_duration_seconds_bucket{listener="https",le="+Inf"} 3
smartproxy_http_request_duration_seconds_sum{listener="https"} 1.0055
smartproxy_http_request_duration_seconds_count{listener="https"} 3
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
