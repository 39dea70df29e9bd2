// Command apiload drives the proxy's REST write routes the way a busy Foreman
// does: many clients at once, each creating a record and deleting it again, over
// and over, on keep-alive connections. It prints one summary line per operation
// (completed per second, p50, p99, max) and exits 1 if any answer was not 200.
// wrk with a Lua script could send the creates, but not pair each create with the
// delete of the same record, nor time the two apart.
//
//	apiload -url http://127.0.0.1:8000 -kind dhcp -network 10.200.0.0 -c 64 -d 10s
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// operation is one request of a create/delete pair.
type operation struct {
	method, path string
	form         url.Values // nil: no body
}

// workload builds the create and the delete of client w's n-th record.
type workload func(w, n int) (create, remove operation)

// workloads are the routes compared: a DHCP reservation, a DNS A record, a TFTP
// host config. Every client has its own MAC/name space, so no two clients collide.
func workloads(network string) map[string]workload {
	return map[string]workload{
		"dhcp": func(w, n int) (operation, operation) {
			// network must be a /16 or wider: client w uses <a>.<b>.w.1-250.
			octets := strings.Split(network, ".")
			ip := fmt.Sprintf("%s.%s.%d.%d", octets[0], octets[1], w%256, n%250+1)
			mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", w%256, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			form := url.Values{"hostname": {fmt.Sprintf("load-%d-%d.example.test", w, n)}, "mac": {mac}, "ip": {ip},
				"network": {network}, "nextServer": {"10.0.0.1"}, "filename": {"pxelinux.0"}}
			return operation{"POST", "/dhcp/" + network, form}, operation{"DELETE", "/dhcp/" + network + "/mac/" + mac, nil}
		},
		"dns": func(w, n int) (operation, operation) {
			fqdn := fmt.Sprintf("load-%d-%d.example.test", w, n)
			form := url.Values{"fqdn": {fqdn}, "value": {fmt.Sprintf("10.%d.%d.%d", 100+w%100, n/250%250, n%250+1)}, "type": {"A"}}
			return operation{"POST", "/dns/", form}, operation{"DELETE", "/dns/" + fqdn + "/A", nil}
		},
		"tftp": func(w, n int) (operation, operation) {
			mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", w%256, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			form := url.Values{"pxeconfig": {"DEFAULT linux\nLABEL linux\n  KERNEL boot/vmlinuz\n"}}
			return operation{"POST", "/tftp/" + mac, form}, operation{"DELETE", "/tftp/" + mac, nil}
		},
	}
}

// timings collects one operation's latencies across clients.
type timings struct {
	mu      sync.Mutex
	samples []time.Duration
	failed  int
	example string // the first failure, to print
}

func (t *timings) add(d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed++
		if t.example == "" {
			t.example = err.Error()
		}
		return
	}
	t.samples = append(t.samples, d)
}

// summary is "<ops>/s p50 p99 max" over the run's wall time.
func (t *timings) summary(name string, elapsed time.Duration) string {
	slices.Sort(t.samples)
	pct := func(p float64) time.Duration {
		if len(t.samples) == 0 {
			return 0
		}
		return t.samples[int(p*float64(len(t.samples)-1))]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	line := fmt.Sprintf("%-12s %7d ok %8.0f/s  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  failed %d",
		name, len(t.samples), float64(len(t.samples))/elapsed.Seconds(), ms(pct(0.50)), ms(pct(0.99)), ms(pct(1)), t.failed)
	if t.example != "" {
		line += " (first: " + t.example + ")"
	}
	return line
}

func do(client *http.Client, base string, op operation) error {
	var body io.Reader
	if op.form != nil {
		body = strings.NewReader(op.form.Encode())
	}
	req, err := http.NewRequest(op.method, base+op.path, body)
	if err != nil {
		return err
	}
	if op.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", op.method, op.path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8000", "proxy base URL")
	kind := flag.String("kind", "dhcp", "dhcp, dns or tftp")
	network := flag.String("network", "10.200.0.0", "dhcp: network address of a /16 (or wider) subnet")
	clients := flag.Int("c", 64, "concurrent clients, one connection each")
	duration := flag.Duration("d", 10*time.Second, "how long to run")
	flag.Parse()
	build, ok := workloads(*network)[*kind]
	if !ok {
		fmt.Fprintf(os.Stderr, "apiload: unknown -kind %q\n", *kind)
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}, Timeout: 30 * time.Second}
	var creates, deletes timings
	start := time.Now()
	stop := start.Add(*duration)
	var wg sync.WaitGroup
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				create, remove := build(w, n)
				t0 := time.Now()
				err := do(client, *base, create)
				creates.add(time.Since(t0), err)
				t0 = time.Now()
				err = do(client, *base, remove)
				deletes.add(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Println(creates.summary(*kind+" create", elapsed))
	fmt.Println(deletes.summary(*kind+" delete", elapsed))
	if creates.failed+deletes.failed > 0 {
		os.Exit(1)
	}
}
