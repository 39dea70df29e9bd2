package dhcp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// etcdFiles configures dhcp_embedded with its state in the cluster under prefix.
func etcdFiles(c *etcdtest.Cluster, prefix string) map[string]string {
	return map[string]string{
		"dhcp.yml": ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(`
:listen: 127.0.0.1:0
:state_backend: etcd
:etcd_endpoints: ["%s"]
:etcd_ca: %s
:etcd_cert: %s
:etcd_key: %s
:etcd_prefix: %s
:etcd_timeout: 4
:subnets:
  - :network: 192.168.122.0
    :netmask: 255.255.255.0
    :range: [192.168.122.100, 192.168.122.200]
`, strings.Join(c.Endpoints(), `", "`), c.CA.CAFile, c.Client.CertFile, c.Client.KeyFile, prefix),
	}
}

func TestTwoProxiesOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	a := proxytest.Start(t, "", etcdFiles(cluster, "/sp-api/"), dhcp.New())
	b := proxytest.Start(t, "", etcdFiles(cluster, "/sp-api/"), dhcp.New())
	for _, p := range []*proxytest.Proxy{a, b} {
		if s := p.State("dhcp"); s != "running" {
			t.Fatalf("dhcp state = %s, want running", s)
		}
	}
	form := reservationForm("hostname", "h1.example.com", "mac", "52:54:00:99:00:01", "ip", "192.168.122.10")
	start := time.Now()
	check(t, a, "POST", "/dhcp/192.168.122.0", form, want{status: 200})
	stored := time.Since(start)
	for b.Do(t, "GET", "/dhcp/192.168.122.0/mac/52:54:00:99:00:01", nil).Status != 200 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("B never served the reservation written through A")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("POST through A answered in %s; GET through B found it %s after the POST began", stored, time.Since(start))
	// A's duplicate check sees B's copy too: the same IP for another MAC is a conflict on B.
	check(t, b, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "h2.example.com", "mac", "52:54:00:99:00:02", "ip", "192.168.122.10"),
		want{409, "Record 192.168.122.0/192.168.122.10 already exists"})

	var v2 map[string]struct {
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal([]byte(check(t, b, "GET", "/v2/features", nil, want{status: 200}).Body), &v2); err != nil {
		t.Fatal(err)
	}
	st, _ := v2["dhcp"].Settings["etcd_state"].(map[string]any)
	if v2["dhcp"].Settings["state_backend"] != "etcd" || st["watch_state"] != "watching" || st["revision"].(float64) <= 0 {
		t.Fatalf("/v2/features dhcp settings: %v", v2["dhcp"].Settings)
	}
	metrics := check(t, b, "GET", "/metrics", nil, want{status: 200}).Body
	for _, line := range []string{"smartproxy_dhcp_etcd_watch_up 1", "smartproxy_dhcp_etcd_writable 1", "smartproxy_dhcp_etcd_revision_lag "} {
		if !strings.Contains(metrics, line) {
			t.Fatalf("/metrics lacks %q", line)
		}
	}

	cluster.Members[0].Kill()
	cluster.Members[1].Kill()
	msg := "Failed to store the DHCP reservation for 192.168.122.11 / 52:54:00:99:00:03: the shared DHCP state (etcd) has no quorum or no reachable member; nothing was changed, try again later"
	check(t, a, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "h3.example.com", "mac", "52:54:00:99:00:03", "ip", "192.168.122.11"),
		want{http.StatusServiceUnavailable, msg})
	check(t, a, "DELETE", "/dhcp/192.168.122.0/mac/52:54:00:99:00:01", nil, want{status: http.StatusServiceUnavailable})
	check(t, b, "GET", "/dhcp/192.168.122.0/mac/52:54:00:99:00:01", nil, want{status: 200}) // reads go on from the copy
	for lost := time.Now(); !strings.Contains(check(t, b, "GET", "/metrics", nil, want{status: 200}).Body, "smartproxy_dhcp_etcd_watch_up 0"); {
		if time.Since(lost) > 30*time.Second {
			t.Fatal("B's /metrics never showed the watch down")
		}
		time.Sleep(100 * time.Millisecond)
	}

	cluster.Members[0].Restart(t)
	cluster.Members[1].Restart(t)
	cluster.WaitHealthy(30 * time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for a.Do(t, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "h3.example.com", "mac", "52:54:00:99:00:03", "ip", "192.168.122.11")).Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("A never accepted writes again after quorum returned")
		}
		time.Sleep(500 * time.Millisecond)
	}
	check(t, b, "GET", "/dhcp/192.168.122.0/mac/52:54:00:99:00:01", nil, want{status: 200})
}
