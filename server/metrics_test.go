package server_test

import (
	"io"
	"strings"
	"testing"
)

func TestMetricsPage(t *testing.T) {
	p := start(t, map[string]string{"dhcp.yml": ":enabled: true\n", "dns.yml": ":enabled: true\n"},
		&echoFeature{name: "dhcp"}, &echoFeature{name: "dns", startErr: io.EOF})
	p.do(t, "GET", "/dhcp", nil, nil)
	p.do(t, "GET", "/nope", nil, nil)
	status, body, hdr := p.do(t, "GET", "/metrics", nil, nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q", status, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`smartproxy_http_requests_total{listener="http",code="2xx"} 1`,
		`smartproxy_http_requests_total{listener="http",code="4xx"} 1`,
		`smartproxy_http_request_duration_seconds_count{listener="http"} 2`,
		`smartproxy_feature_state{feature="dhcp",state="running"} 1`,
		`smartproxy_feature_state{feature="dns",state="failed"} 1`,
		`smartproxy_feature_state{feature="dns",state="running"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
}
