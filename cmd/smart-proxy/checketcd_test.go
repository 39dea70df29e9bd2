package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// check-config asks the etcd cluster of dhcp_embedded on :state_backend: etcd.
func TestCheckConfigEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	p := newPKI(t)
	files := func(endpoint string) map[string]string {
		return map[string]string{
			"dhcp.yml": ":enabled: true\n",
			"dhcp_embedded.yml": fmt.Sprintf(`
:listen: 127.0.0.1:0
:state_backend: etcd
:etcd_endpoints: [%s]
:etcd_ca: %s
:etcd_cert: %s
:etcd_key: %s
:etcd_timeout: 2
:subnets:
  - :network: 192.168.122.0
    :netmask: 255.255.255.0
`, endpoint, cluster.CA.CAFile, cluster.Client.CertFile, cluster.Client.KeyFile),
			"dns.yml": ":enabled: true\n:use_provider: dns_embedded\n",
			"dns_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:0\n:zones: [example.test]\n:state_backend: etcd\n:etcd_endpoints: [%s]\n"+
				":etcd_ca: %s\n:etcd_cert: %s\n:etcd_key: %s\n:etcd_timeout: 2\n:etcd_prefix: /dns/\n",
				endpoint, cluster.CA.CAFile, cluster.Client.CertFile, cluster.Client.KeyFile),
		}
	}
	path, _, _ := writeSettings(t, p, "", files(cluster.Members[0].ClientURL))
	out, code := runBinary(t, "check-config", "--settings", path)
	if code != 0 || !regexp.MustCompile(`(?m)^dhcp_embedded\s+etcd ok: revision \d+ at https://127.0.0.1:\d+, prefix /smartproxy/ \(backend from .*dhcp_embedded\.yml\)$`).MatchString(out) {
		t.Fatalf("check-config with etcd up: exit %d\n%s", code, out)
	}
	if !regexp.MustCompile(`(?m)^dns_embedded\s+etcd ok: revision \d+ at https://127.0.0.1:\d+, prefix /dns/ \(backend from .*dns_embedded\.yml\)$`).MatchString(out) {
		t.Fatalf("check-config does not check dns_embedded's etcd:\n%s", out)
	}
	cluster.Members[0].Kill()
	out, code = runBinary(t, "check-config", "--settings", path)
	if code != 1 || !strings.Contains(out, "error: dhcp_embedded: etcd is unavailable: reading the revision got no answer from "+cluster.Members[0].ClientURL+" within 2s (quorum lost or members unreachable)") {
		t.Fatalf("check-config with etcd down: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "error: dns_embedded: etcd is unavailable") {
		t.Fatalf("check-config with etcd down says nothing of dns_embedded:\n%s", out)
	}
}
