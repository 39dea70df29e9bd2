package dhcp_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// raceCreates POSTs forms[i] to nodes[i], both released at the same instant.
func raceCreates(t *testing.T, nodes [2]*proxytest.Proxy, forms [2]url.Values) [2]proxytest.Response {
	var got [2]proxytest.Response
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			got[i] = nodes[i].Do(t, "POST", "/dhcp/192.168.122.0", forms[i])
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return got
}

// oneWinner checks that exactly one create got 200 and the other the 409 the
// single-node check answers; it returns the winner's index.
func oneWinner(t *testing.T, got [2]proxytest.Response, conflicts [2]string) int {
	t.Helper()
	for w := range got {
		l := 1 - w
		if got[w].Status == 200 && got[l].Status == 409 {
			if got[l].Body != conflicts[l] {
				t.Fatalf("409 body %q, want %q", got[l].Body, conflicts[l])
			}
			return w
		}
	}
	t.Fatalf("concurrent creates answered %d %q and %d %q, want one 200 and one 409",
		got[0].Status, got[0].Body, got[1].Status, got[1].Body)
	return -1
}

// agree waits until both nodes answer path alike (the loser's copy learns the
// winner's reservation by watch) and returns that answer.
func agree(t *testing.T, nodes [2]*proxytest.Proxy, path string) proxytest.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, b := nodes[0].Do(t, "GET", path, nil), nodes[1].Do(t, "GET", path, nil)
		if a.Status == b.Status && a.Body == b.Body {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: A answers %d %q, B %d %q", path, a.Status, a.Body, b.Status, b.Body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestConcurrentReservationsThroughTwoProxiesOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	const prefix = "/sp-resv-race/"
	nodes := [2]*proxytest.Proxy{
		proxytest.Start(t, "", etcdFiles(cluster, prefix), dhcp.New()),
		proxytest.Start(t, "", etcdFiles(cluster, prefix), dhcp.New()),
	}
	cli := cluster.Connect(prefix)
	const rounds = 20

	t.Run("one IP, two MACs: one 200, one 409", func(t *testing.T) {
		for round := range rounds {
			ip := fmt.Sprintf("192.168.122.%d", 10+round)
			macs := [2]string{fmt.Sprintf("52:54:00:a%d:%02x:01", 0, round), fmt.Sprintf("52:54:00:a%d:%02x:02", 1, round)}
			conflict := "Record 192.168.122.0/" + ip + " already exists"
			w := oneWinner(t, raceCreates(t, nodes, [2]url.Values{
				reservationForm("hostname", "a.example.com", "mac", macs[0], "ip", ip),
				reservationForm("hostname", "b.example.com", "mac", macs[1], "ip", ip),
			}), [2]string{conflict, conflict})
			body := agree(t, nodes, "/dhcp/192.168.122.0/ip/"+ip).Body
			if strings.Count(body, `"mac"`) != 1 || !strings.Contains(body, macs[w]) {
				t.Fatalf("round %d: the nodes agree on %s, want only %s's reservation", round, body, macs[w])
			}
			agree(t, nodes, "/dhcp/192.168.122.0/mac/"+macs[1-w]) // 404 on both (no lease either)
			if v, _, err := cli.Get(context.Background(), "dhcp/reservation-ip/"+ip); err != nil || string(v) != macs[w] {
				t.Fatalf("round %d: index key of %s holds %q (%v), want %s", round, ip, v, err, macs[w])
			}
		}
	})

	t.Run("one MAC, two IPs: one 200, one 409", func(t *testing.T) {
		for round := range rounds {
			mac := fmt.Sprintf("52:54:00:b0:%02x:01", round)
			ips := [2]string{fmt.Sprintf("192.168.122.%d", 40+round), fmt.Sprintf("192.168.122.%d", 70+round)}
			w := oneWinner(t, raceCreates(t, nodes, [2]url.Values{
				reservationForm("hostname", "m.example.com", "mac", mac, "ip", ips[0]),
				reservationForm("hostname", "m.example.com", "mac", mac, "ip", ips[1]),
			}), [2]string{"Record 192.168.122.0/" + ips[0] + " already exists", "Record 192.168.122.0/" + ips[1] + " already exists"})
			if body := agree(t, nodes, "/dhcp/192.168.122.0/mac/"+mac).Body; !strings.Contains(body, `"ip":"`+ips[w]+`"`) {
				t.Fatalf("round %d: the nodes agree on %s, want the reservation on %s", round, body, ips[w])
			}
			if r := agree(t, nodes, "/dhcp/192.168.122.0/ip/"+ips[1-w]); r.Status != 404 {
				t.Fatalf("round %d: the losing IP %s answers %d %q", round, ips[1-w], r.Status, r.Body)
			}
			if _, rev, err := cli.Get(context.Background(), "dhcp/reservation-ip/"+ips[1-w]); err != nil || rev != 0 {
				t.Fatalf("round %d: the losing IP %s has an index key (rev %d, %v)", round, ips[1-w], rev, err)
			}
		}
	})

	t.Run("the same reservation through both: both 200", func(t *testing.T) {
		for round := range 5 {
			form := reservationForm("hostname", "same.example.com", "mac", fmt.Sprintf("52:54:00:d0:%02x:01", round), "ip", fmt.Sprintf("192.168.122.%d", 100+round))
			if got := raceCreates(t, nodes, [2]url.Values{form, form}); got[0].Status != 200 || got[1].Status != 200 {
				t.Fatalf("round %d: identical creates answered %d %q and %d %q", round, got[0].Status, got[0].Body, got[1].Status, got[1].Body)
			}
		}
	})

	t.Run("deleted through one node, created again through the other", func(t *testing.T) {
		for round := range rounds {
			ip := fmt.Sprintf("192.168.122.%d", 10+round)
			from, to := nodes[round%2], nodes[1-round%2]
			check(t, from, "DELETE", "/dhcp/192.168.122.0/ip/"+ip, nil, want{status: 200})
			// At once, before the other node's watch may have shown it the delete:
			// its copy's conflict is checked against the cluster.
			mac := fmt.Sprintf("52:54:00:c0:%02x:01", round)
			check(t, to, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "c.example.com", "mac", mac, "ip", ip), want{status: 200})
			if body := agree(t, nodes, "/dhcp/192.168.122.0/ip/"+ip).Body; !strings.Contains(body, mac) || strings.Count(body, `"mac"`) != 1 {
				t.Fatalf("re-created %s: the nodes agree on %s", ip, body)
			}
			if v, _, err := cli.Get(context.Background(), "dhcp/reservation-ip/"+ip); err != nil || string(v) != mac {
				t.Fatalf("re-created %s: index key holds %q (%v)", ip, v, err)
			}
		}
	})
}
