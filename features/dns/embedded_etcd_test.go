package dns

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// etcdFiles are the settings of a dns_embedded proxy on port keeping its zones in
// the cluster under prefix.
func etcdFiles(port int, c *etcdtest.Cluster, prefix, keyFile string) map[string]string {
	return etcdFilesKeeping(port, c, prefix, keyFile, "")
}

// etcdFilesKeeping is etcdFiles with the node's copy kept in stateDir ("": none).
func etcdFilesKeeping(port int, c *etcdtest.Cluster, prefix, keyFile, stateDir string) map[string]string {
	files := embeddedFiles(port, "", keyFile)
	if stateDir != "" {
		stateDir = ":state_dir: " + stateDir + "\n"
	}
	files["dns_embedded.yml"] = stateDir + fmt.Sprintf(":listen: 127.0.0.1:%d\n:zones:\n  - example.test\n  - 99.10.in-addr.arpa\n:tsig_keys:\n  - %s\n"+
		":state_backend: etcd\n:etcd_endpoints: [%s]\n:etcd_ca: %s\n:etcd_cert: %s\n:etcd_key: %s\n:etcd_prefix: %s\n:etcd_timeout: 4\n",
		port, keyFile, strings.Join(c.Endpoints(), ", "), c.CA.CAFile, c.Client.CertFile, c.Client.KeyFile, prefix)
	return files
}

// waitDig polls dig against port until it prints want, and returns how long that took
// (the limit is generous: what is measured is logged, a loaded machine must not fail it).
func waitDig(t *testing.T, port int, limit time.Duration, want string, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := bindtest.Dig(t, port, args...)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("dig %v on port %d = %q after %s, want %q", args, port, got, limit, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two proxies on one 3-member etcd cluster serve the same zones: a record written
// through either node (API or nsupdate) is answered by the other, with the same SOA
// serial; without quorum writes get 503 (nsupdate SERVFAIL) while both keep
// answering from their copies; with quorum back writes work again and both converge.
func TestEmbeddedOnEtcdTwoNodes(t *testing.T) {
	bindtest.Need(t, "dig", "nsupdate")
	cluster := etcdtest.Start(t, 3)
	key := testKeyFile(t)
	portA, portB := bindtest.FreePort(t), bindtest.FreePort(t)
	pxA := proxytest.Start(t, "", etcdFiles(portA, cluster, "/dnsha/", key), New())
	pxB := proxytest.Start(t, "", etcdFiles(portB, cluster, "/dnsha/", key), New())
	for _, px := range []*proxytest.Proxy{pxA, pxB} {
		if s, err := px.Registry.StateOf("dns"); s != "running" {
			t.Fatalf("dns is %s: %v", s, err)
		}
	}
	a := peer{proxy: pxA, port: portA, addr: fmt.Sprintf("127.0.0.1:%d", portA)}
	b := peer{proxy: pxB, port: portB, addr: fmt.Sprintf("127.0.0.1:%d", portB)}

	// The whole single-node suite holds on etcd.
	runRecordSuite(t, a)

	// Through A, answered by B: measured bound.
	var worst time.Duration
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("ha%d.example.test", i)
		a.expect(t, "POST", "/dns/", map[string]string{"fqdn": name, "value": fmt.Sprintf("10.99.1.%d", i), "type": "A"}, 200, "")
		worst = max(worst, waitDig(t, portB, 30*time.Second, fmt.Sprintf("10.99.1.%d", i), name, "A"))
	}
	t.Logf("record POSTed to node A answered by dig against node B within %s (worst of 10; dig itself included)", worst)
	// The conflict check on B sees A's record.
	b.expect(t, "POST", "/dns/", map[string]string{"fqdn": "ha1.example.test", "value": "10.99.1.200", "type": "A"}, 409, "'ha1.example.test 'is already in use")

	// nsupdate through B, answered by A.
	script := fmt.Sprintf("server 127.0.0.1 %d\nzone example.test\nupdate add byhand.example.test. 300 A 10.99.0.77\nsend\n", portB)
	if out, err := bindtest.Nsupdate(t, key, script); err != nil {
		t.Fatalf("nsupdate -k via B: %v\n%s", err, out)
	}
	waitDig(t, portA, 30*time.Second, "10.99.0.77", "byhand.example.test", "A")

	// Both nodes write the same zone at once: nothing lost, serials agree.
	done := make(chan error, 2)
	for n, p := range []peer{a, b} {
		go func() {
			for i := 0; i < 10; i++ {
				name := fmt.Sprintf("race%d-%d.example.test", n, i)
				got := p.proxy.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {name}, "value": {fmt.Sprintf("10.99.2.%d", n*10+i)}, "type": {"A"}})
				if got.Status != 200 {
					done <- fmt.Errorf("POST %s via node %d = %d %q", name, n, got.Status, got.Body)
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < 2; n++ {
		for i := 0; i < 10; i++ {
			name := fmt.Sprintf("race%d-%d.example.test", n, i)
			want := fmt.Sprintf("10.99.2.%d", n*10+i)
			waitDig(t, portA, 30*time.Second, want, name, "A")
			waitDig(t, portB, 30*time.Second, want, name, "A")
		}
	}
	serial := func(port int) string { return strings.Fields(bindtest.Dig(t, port, "example.test", "SOA"))[2] }
	if sa, sb := serial(portA), serial(portB); sa != sb {
		t.Fatalf("SOA serial A %s, B %s", sa, sb)
	}

	// /v2/features shows the backend and the copy's state.
	if f := pxB.Do(t, "GET", "/v2/features", nil).Body; !strings.Contains(f, `"state_backend":"etcd"`) || !strings.Contains(f, `"watch_state":"watching"`) {
		t.Errorf("/v2/features of B lacks the etcd state:\n%s", f)
	}

	// One member (a follower) killed: no interruption.
	first := cluster.Follower()
	first.Kill()
	a.expect(t, "POST", "/dns/", map[string]string{"fqdn": "onedown.example.test", "value": "10.99.3.3", "type": "A"}, 200, "")
	waitDig(t, portB, 30*time.Second, "10.99.3.3", "onedown.example.test", "A")

	// A node keeping its copy in :state_dir:, stopped before the quorum loss.
	portC, dirC := bindtest.FreePort(t), t.TempDir()
	pxC := proxytest.Start(t, "", etcdFilesKeeping(portC, cluster, "/dnsha/", key, dirC), New())
	waitDig(t, portC, 30*time.Second, "10.99.3.3", "onedown.example.test", "A")
	pxC.Registry.Stop(context.Background())

	// Quorum lost: writes refused with 503 and the reason, reads answered.
	var second *etcdtest.Member
	for _, m := range cluster.Members {
		if m != first && second == nil {
			second = m
		}
	}
	second.Kill()
	got := pxA.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {"lost.example.test"}, "value": {"10.99.3.1"}, "type": {"A"}})
	if got.Status != 503 || !strings.Contains(got.Body, "etcd is unavailable") {
		t.Fatalf("POST without quorum = %d %q, want 503 naming etcd", got.Status, got.Body)
	}
	t.Logf("without quorum: %d %s", got.Status, got.Body)
	got = pxB.Do(t, "DELETE", "/dns/ha1.example.test/A", nil)
	if got.Status != 503 {
		t.Fatalf("DELETE without quorum = %d %q, want 503", got.Status, got.Body)
	}
	out, err := bindtest.Nsupdate(t, key, strings.Replace(script, "byhand", "lostnsupdate", 1))
	if err == nil || !strings.Contains(out, "SERVFAIL") {
		t.Errorf("nsupdate without quorum: %v %q, want SERVFAIL", err, out)
	}
	for _, port := range []int{portA, portB} {
		if got := bindtest.Dig(t, port, "ha1.example.test", "A"); got != "10.99.1.1" {
			t.Errorf("without quorum dig on %d = %q", port, got)
		}
	}
	if got := bindtest.Dig(t, portA, "lost.example.test", "A"); got != "" {
		t.Errorf("a refused write is served: %q", got)
	}
	// C restarted without quorum serves its copy and refuses writes.
	pxC = proxytest.Start(t, "", etcdFilesKeeping(portC, cluster, "/dnsha/", key, dirC), New())
	if got := bindtest.Dig(t, portC, "onedown.example.test", "A"); got != "10.99.3.3" {
		t.Errorf("node C started without quorum answers %q", got)
	}
	got = pxC.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {"lostc.example.test"}, "value": {"10.99.3.9"}, "type": {"A"}})
	if got.Status != 503 || !strings.Contains(got.Body, "not connected yet") {
		t.Fatalf("POST to C started without quorum = %d %q", got.Status, got.Body)
	}

	// Quorum back: writes succeed again (once the node saw the cluster answer) and converge.
	first.Restart(t)
	second.Restart(t)
	cluster.WaitHealthy(30 * time.Second)
	back := time.Now()
	for {
		got = pxB.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {"back.example.test"}, "value": {"10.99.3.2"}, "type": {"A"}})
		if got.Status == 200 {
			break
		}
		if time.Since(back) > 30*time.Second {
			t.Fatalf("POST after quorum returned = %d %q", got.Status, got.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes accepted again %s after the cluster answered", time.Since(back).Round(time.Millisecond))
	waitDig(t, portA, 30*time.Second, "10.99.3.2", "back.example.test", "A")
	waitDig(t, portC, 30*time.Second, "10.99.3.2", "back.example.test", "A")
	if sa, sc := serial(portA), serial(portC); sa != sc {
		t.Fatalf("after quorum back SOA serial A %s, C %s", sa, sc)
	}
	if sa, sb := serial(portA), serial(portB); sa != sb {
		t.Fatalf("after quorum back SOA serial A %s, B %s", sa, sb)
	}
	for _, name := range []string{"ha1.example.test", "byhand.example.test", "race1-9.example.test"} {
		if bindtest.Dig(t, portA, name, "A") == "" || bindtest.Dig(t, portB, name, "A") == "" {
			t.Errorf("%s lost after the outage", name)
		}
	}
}
