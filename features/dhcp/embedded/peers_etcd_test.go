package embedded_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// segment is two server namespaces and a client namespace on one Ethernet
// segment: a bridge in the client namespace with a veth to each server.
type segment struct {
	serverNS, serverIf [2]string
	client             *link // clientNS and clientIf (the bridge), for perfdhcp and the sniffer
}

func newSegment(t *testing.T) *segment {
	t.Helper()
	requireRoot(t)
	s := randomSuffix(t)
	seg := &segment{client: &link{clientNS: "spha-c-" + s, clientIf: "spbr" + s}}
	seg.serverNS = [2]string{"spha-a-" + s, "spha-b-" + s}
	seg.serverIf = [2]string{"spa" + s, "spb" + s}
	for _, ns := range []string{seg.serverNS[0], seg.serverNS[1], seg.client.clientNS} {
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	c := seg.client.clientNS
	run(t, "ip", "-n", c, "link", "add", seg.client.clientIf, "type", "bridge")
	for i := range seg.serverNS {
		peer := seg.serverIf[i] + "p"
		run(t, "ip", "link", "add", seg.serverIf[i], "type", "veth", "peer", "name", peer)
		run(t, "ip", "link", "set", seg.serverIf[i], "netns", seg.serverNS[i])
		run(t, "ip", "link", "set", peer, "netns", c)
		run(t, "ip", "-n", c, "link", "set", peer, "master", seg.client.clientIf)
		run(t, "ip", "-n", c, "link", "set", peer, "up")
		run(t, "ip", "-n", seg.serverNS[i], "addr", "add", fmt.Sprintf("10.99.0.%d/16", i+1), "dev", seg.serverIf[i])
		run(t, "ip", "-n", seg.serverNS[i], "link", "set", seg.serverIf[i], "up")
		run(t, "ip", "-n", seg.serverNS[i], "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", c, "addr", "add", "10.99.0.3/16", "dev", seg.client.clientIf)
	run(t, "ip", "-n", c, "link", "set", seg.client.clientIf, "up")
	run(t, "ip", "-n", c, "link", "set", "lo", "up")
	return seg
}

// etcdProxyDir is a child proxy serving the segment from server namespace i with
// its state in the cluster.
func etcdProxyDir(t *testing.T, seg *segment, i int, cluster *etcdtest.Cluster, prefix string) (string, string) {
	eps, _ := json.Marshal(cluster.Endpoints())
	return writeProxyDir(t, fmt.Sprintf(`
:netns: %s
:interfaces: [%s]
:state_backend: etcd
:etcd_endpoints: %s
:etcd_ca: %s
:etcd_cert: %s
:etcd_key: %s
:etcd_prefix: %s
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
    :range: [10.99.1.1, 10.99.250.254]
    :routers: [10.99.0.1]
`, seg.serverNS[i], seg.serverIf[i], eps, cluster.CA.CAFile, cluster.Client.CertFile, cluster.Client.KeyFile, prefix))
}

// etcdCommits reads smartproxy_dhcp_etcd_commits_total from a proxy's /metrics.
func etcdCommits(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^smartproxy_dhcp_etcd_commits_total (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no smartproxy_dhcp_etcd_commits_total in %s/metrics", url)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// Two proxies serve one segment from etcd; perfdhcp's broadcasts reach both. One
// is killed with SIGKILL during the load: no address is ever ACKed to two
// clients, every ACK is in etcd, the survivor serves everyone afterwards and
// returning clients get the address they had, whichever proxy gave it.
func TestTwoProxiesOneSegmentKill9(t *testing.T) {
	requirePeer(t, "perfdhcp", "kea-admin")
	cluster := etcdtest.Start(t, 3)
	seg := newSegment(t)
	prefix := "/sp-seg-" + randomSuffix(t) + "/"
	var proxies [2]*proxyProcess
	for i := range proxies {
		path, url := etcdProxyDir(t, seg, i, cluster, prefix)
		proxies[i] = startProxyProcess(t, path, url)
	}

	// A reservation for the client's own MAC, written through A, reaches B's copy.
	mac := seg.client.clientMAC(t)
	form := url.Values{"hostname": {"ha-host.example.test"}, "mac": {mac}, "ip": {"10.99.7.7"}}
	posted := time.Now()
	for {
		// A 503 says etcd did not answer in time (a loaded machine just after the
		// cluster started): documented as "try again later", so the test does.
		resp, err := http.PostForm(proxies[0].url+"/dhcp/10.99.0.0", form)
		if err != nil {
			t.Fatalf("POST through A: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 503 || time.Since(posted) > 30*time.Second {
			t.Fatalf("POST through A: %d %s", resp.StatusCode, body)
		}
		t.Logf("POST through A: %d %s; again", resp.StatusCode, body)
		time.Sleep(500 * time.Millisecond)
	}
	for {
		r, err := http.Get(proxies[1].url + "/dhcp/10.99.0.0/mac/" + mac)
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Since(posted) > 30*time.Second {
			t.Fatal("B never had the reservation written through A")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("reservation POSTed to A is served by B's API %s after the POST began", time.Since(posted).Round(time.Microsecond))

	sniffer := sniffACKs(t, seg.client.clientNS, seg.client.clientIf)
	done := make(chan string, 1)
	ended := make(chan struct{})
	runStart := time.Now()
	go func() {
		defer close(ended)
		_, out := perfdhcp(t, seg.client, "-r", "300", "-p", "4", "-R", "2000")
		done <- out
	}()
	// Both proxies are handing out leases when one dies: A is killed once 200 clients
	// were ACKed (about 1 s in; later when a loaded machine starts perfdhcp slowly).
	sniffer.waitClients(200, ended)
	commitsA, commitsB := etcdCommits(t, proxies[0].url), etcdCommits(t, proxies[1].url)
	if commitsA == 0 || commitsB == 0 {
		t.Fatalf("leases written by A %d, by B %d: both should be serving", commitsA, commitsB)
	}
	proxies[0].kill9(t)
	killedAt := time.Now()
	out := <-done
	acked, owners := sniffer.result()
	if len(acked) < 200 {
		t.Fatalf("only %d clients ACKed: the test proves nothing\n%s\nA:\n%s\nB:\n%s", len(acked), out, proxies[0].logs, proxies[1].logs)
	}
	for ip, macs := range owners {
		if len(macs) > 1 {
			t.Fatalf("%s was ACKed to %d clients: %v", ip, len(macs), macs)
		}
	}
	cli := cluster.Connect(prefix)
	for mac, ip := range acked {
		v, rev, err := cli.Get(context.Background(), "dhcp/lease/"+ip)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ K, MAC string }
		if rev == 0 || json.Unmarshal(v, &e) != nil || e.MAC != mac || e.K != "lease" {
			t.Fatalf("ACKed lease %s -> %s is not in etcd (holds %q)", mac, ip, v)
		}
	}
	t.Logf("%d clients ACKed by two proxies (etcd writes by A %d, by B %d when A was killed with -9 %s in): 0 addresses ACKed twice, all %d leases in etcd",
		len(acked), commitsA, commitsB, killedAt.Sub(runStart).Round(10*time.Millisecond), len(acked))

	// The survivor alone: the same 2000 MACs come back, and an etcd follower is
	// killed meanwhile (the cluster keeps quorum: no interruption).
	sniffer = sniffACKs(t, seg.client.clientNS, seg.client.clientIf)
	follower := cluster.Follower()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Second)
		follower.Kill()
	}()
	// -d 4 (a request unanswered for 4 s is lost) and -W 4 s: a real client waits 4 s
	// before it retransmits (RFC 2131 §4.1), so an ACK held up by the killed member or
	// by a loaded machine is no interruption to it.
	stats, out := perfdhcp(t, seg.client, "-r", "300", "-p", "2", "-R", "2000", "-d", "4", "-W", "4000000")
	<-killed
	again, _ := sniffer.result()
	if s := stats["REQUEST-ACK"]; s.sent == 0 || s.received < s.sent*98/100 {
		t.Fatalf("the survivor answered %d of %d REQUESTs\n%s\n%s", s.received, s.sent, out, proxies[1].logs)
	}
	returning := returningClients(t, acked, again, "the kill")
	if returning == 0 {
		t.Fatal("no client of the first run came back")
	}
	// A real client gets the reservation A stored, from B.
	env := udhcpc(t, seg.client)
	if env["ip"] != "10.99.7.7" || env["hostname"] != "ha-host.example.test" || env["serverid"] != "10.99.0.2" {
		t.Fatalf("udhcpc after A died: ip %s hostname %s server %s, want 10.99.7.7 ha-host.example.test from 10.99.0.2", env["ip"], env["hostname"], env["serverid"])
	}

	// Quorum lost (one member of three is already down): B still ACKs a renewal
	// from its copy, and the ACK leaves through the server's socket.
	for _, m := range cluster.Members {
		if m != follower {
			m.Kill()
			break
		}
	}
	// The first renewal waits out the timeout; the second is answered at once
	// from the copy (the node knows the cluster is silent).
	renewed := 0
	for mac, ip := range again {
		start := time.Now()
		reply := relayedRenewal(t, seg.client.clientNS, mac, ip, "10.99.0.2")
		if reply == nil || reply.MessageType() != dhcpv4.MessageTypeAck || reply.YourIPAddr.String() != ip {
			t.Fatalf("renewal of %s by %s without quorum: %v", ip, mac, reply)
		}
		t.Logf("without quorum B ACKed the renewal of %s after %s", ip, time.Since(start).Round(time.Millisecond))
		if renewed++; renewed == 2 {
			break
		}
	}
	t.Logf("survivor: %d ACKs %s after the kill (etcd follower %s killed 1 s in; %d of %d REQUESTs answered), %d of them returning clients with their old address",
		len(again), time.Since(killedAt).Round(time.Second), follower.Name, stats["REQUEST-ACK"].received, stats["REQUEST-ACK"].sent, returning)
}

// relayedRenewal sends a RENEWING-state REQUEST (ciaddr set) for mac and ip to the
// server as a relay on the client's bridge address, and returns the reply (nil
// after 15 s).
func relayedRenewal(t *testing.T, ns, mac, ip, server string) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	req, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithClientIP(net.ParseIP(ip)), dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.3")))
	if err != nil {
		t.Fatal(err)
	}
	var reply *dhcpv4.DHCPv4
	inNS(t, ns, func() {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("10.99.0.3"), Port: 67})
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		if _, err := conn.WriteToUDP(req.ToBytes(), &net.UDPAddr{IP: net.ParseIP(server), Port: 67}); err != nil {
			t.Error(err)
			return
		}
		buf := make([]byte, 1500)
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if r, err := dhcpv4.FromBytes(buf[:n]); err == nil && r.TransactionID == req.TransactionID {
				reply = r
				return
			}
		}
	})
	return reply
}
