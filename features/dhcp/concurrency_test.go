package dhcp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// Concurrent reservation writes wait for durability outside the feature's lock
// (so they share journal commits); these check that the duplicate checks still
// see every write in flight, and measure the concurrent create path.

// postAll sends every form to POST /dhcp/<network> at once and returns the
// answers as "<status> <body>", in form order.
func postAll(t *testing.T, p *proxytest.Proxy, network string, forms []url.Values) []string {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(forms)}}
	answers := make([]string, len(forms))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, form := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.PostForm(p.URL+"/dhcp/"+network, form)
			if err != nil {
				answers[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			answers[i] = fmt.Sprintf("%d %s", resp.StatusCode, body)
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

// winners are the indexes answered 200; every other answer must be conflict.
func winners(t *testing.T, answers []string, conflict string) []int {
	t.Helper()
	var won []int
	for i, a := range answers {
		switch a {
		case "200 ":
			won = append(won, i)
		case conflict:
		default:
			t.Fatalf("answer %d: %q, want 200 or %q", i, a, conflict)
		}
	}
	return won
}

func TestConcurrentCreatesOfOneAddressOrMAC(t *testing.T) {
	p := startEmbedded(t)
	const racers = 32

	// One address, many MACs: exactly one wins, the rest conflict.
	var forms []url.Values
	for i := 0; i < racers; i++ {
		forms = append(forms, reservationForm("hostname", fmt.Sprintf("ip-racer-%d", i), "mac", fmt.Sprintf("02:00:00:00:01:%02x", i), "ip", "192.168.122.50"))
	}
	won := winners(t, postAll(t, p, "192.168.122.0", forms), "409 Record 192.168.122.0/192.168.122.50 already exists")
	if len(won) != 1 {
		t.Fatalf("%d creates of one address succeeded, want 1", len(won))
	}
	var byIP []struct{ MAC string }
	_ = json.Unmarshal([]byte(check(t, p, "GET", "/dhcp/192.168.122.0/ip/192.168.122.50", nil, want{status: 200}).Body), &byIP)
	if len(byIP) != 1 || byIP[0].MAC != forms[won[0]].Get("mac") {
		t.Fatalf("192.168.122.50 is reserved to %+v, want only %s", byIP, forms[won[0]].Get("mac"))
	}

	// One MAC, many addresses: the same.
	forms = nil
	for i := 0; i < racers; i++ {
		forms = append(forms, reservationForm("hostname", "mac-racer", "mac", "02:00:00:00:02:01", "ip", fmt.Sprintf("192.168.122.%d", 60+i)))
	}
	answers := postAll(t, p, "192.168.122.0", forms)
	won = nil
	for i, a := range answers {
		if a == "200 " {
			won = append(won, i)
		} else if !strings.HasPrefix(a, "409 Record 192.168.122.0/192.168.122.") {
			t.Fatalf("answer %d: %q, want 200 or 409", i, a)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d creates of one MAC succeeded, want 1", len(won))
	}
	var byMAC struct{ IP string }
	_ = json.Unmarshal([]byte(check(t, p, "GET", "/dhcp/192.168.122.0/mac/02:00:00:00:02:01", nil, want{status: 200}).Body), &byMAC)
	if byMAC.IP != forms[won[0]].Get("ip") {
		t.Fatalf("02:00:00:00:02:01 is reserved to %s, want %s", byMAC.IP, forms[won[0]].Get("ip"))
	}

	// The same reservation many times: every one answers 200, one is stored.
	forms = nil
	for i := 0; i < racers; i++ {
		forms = append(forms, reservationForm("hostname", "twin", "mac", "02:00:00:00:03:01", "ip", "192.168.122.99"))
	}
	if won := winners(t, postAll(t, p, "192.168.122.0", forms), ""); len(won) != racers {
		t.Fatalf("%d of %d identical creates succeeded", len(won), racers)
	}
	var all struct{ Reservations []struct{ IP, MAC string } }
	_ = json.Unmarshal([]byte(check(t, p, "GET", "/dhcp/192.168.122.0", nil, want{status: 200}).Body), &all)
	if len(all.Reservations) != 3 {
		t.Fatalf("after the races the subnet holds %+v, want three reservations", all.Reservations)
	}
}

// BenchmarkConcurrentCreates: 64 clients creating reservations through the real
// HTTP server and the embedded provider with :fsync: true, each answer after its
// fdatasync. Reports creates/s and the p99 latency; bench/dhcp-api.sh measures the
// same against the real binary.
func BenchmarkConcurrentCreates(b *testing.B) {
	files := map[string]string{
		"dhcp.yml":          ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:0\n:state_dir: %s\n:fsync: true\n:subnets:\n  - :network: 10.0.0.0\n    :netmask: 255.0.0.0\n", b.TempDir()),
	}
	p := proxytest.Start(b, "", files, dhcp.New())
	const clients = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var next atomic.Uint32
	var mu sync.Mutex
	var latencies []time.Duration
	b.SetParallelism((clients + 1) / 2) // RunParallel starts GOMAXPROCS times this
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			n := next.Add(1)
			form := url.Values{"hostname": {fmt.Sprintf("bench-%d", n)}, "ip": {fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)},
				"mac": {fmt.Sprintf("02:00:00:%02x:%02x:%02x", n>>16&0xff, n>>8&0xff, n&0xff)}}
			t0 := time.Now()
			resp, err := client.PostForm(p.URL+"/dhcp/10.0.0.0", form)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("create %v: %d", form, resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "creates/s")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}
