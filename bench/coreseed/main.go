// Command coreseed fills a running foreman-core through its API, the way an API
// client would: it registers a smart proxy (feature discovery included), creates a
// domain and a subnet served by it, then N hosts from C clients at once, each with a
// MAC, an IP in the subnet and one parameter. Every create must answer 201 or it
// exits 1. It prints one summary line (hosts/s, p50, p99, max of the creates).
//
// Seeding through the API rather than straight into the store makes every host pass
// the same validation and commit (one fsynced transaction each) as a real client's.
//
//	coreseed -url http://127.0.0.1:3000 -user admin:secret -proxy http://127.0.0.1:8000 -n 10000 -c 32
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// client posts JSON to the core with Basic credentials.
type client struct {
	base, login, password string
	http                  *http.Client
}

// create POSTs body to path and returns the new record's id; anything but 201 is an error.
func (c *client) create(path string, body any) (int64, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest("POST", c.base+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(c.login, c.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("POST %s: %s %s", path, resp.Status, answer)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(answer, &created); err != nil {
		return 0, fmt.Errorf("POST %s: reading the answer: %w", path, err)
	}
	return created.ID, nil
}

// host is the n-th seeded host: host00042.<domain> in 10.10.0.0/16.
func host(n int, domainID, subnetID int64) map[string]any {
	return map[string]any{"host": map[string]any{
		"name":      fmt.Sprintf("host%05d", n),
		"domain_id": domainID,
		"subnet_id": subnetID,
		"mac":       fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(n>>16), byte(n>>8), byte(n)),
		"ip":        fmt.Sprintf("10.10.%d.%d", n/250, n%250+1),
		"build":     n%10 == 0,
		"host_parameters_attributes": []map[string]string{
			{"name": "role", "value": []string{"web", "db", "cache"}[n%3]},
		},
	}}
}

func main() {
	base := flag.String("url", "", "base URL of foreman-core, e.g. http://127.0.0.1:3000")
	login := flag.String("login", "admin", "user for HTTP Basic")
	password := flag.String("password", "", "password of -login")
	proxyURL := flag.String("proxy", "", "URL of a running smart proxy to register (DNS and TFTP of the subnet)")
	domain := flag.String("domain", "example.test", "domain of the hosts")
	count := flag.Int("n", 10000, "hosts to create (at most 62,500: one /16)")
	concurrency := flag.Int("c", 32, "clients creating hosts at once")
	flag.Parse()
	if *base == "" || *proxyURL == "" || *count < 1 || *count > 62500 || *concurrency < 1 {
		flag.Usage()
		os.Exit(2)
	}
	c := &client{base: *base + "/api/v2", login: *login, password: *password,
		http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}}
	if err := seed(c, *proxyURL, *domain, *count, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "coreseed:", err)
		os.Exit(1)
	}
}

func seed(c *client, proxyURL, domain string, count, concurrency int) error {
	proxyID, err := c.create("/smart_proxies", map[string]any{"smart_proxy": map[string]any{"name": "proxy." + domain, "url": proxyURL}})
	if err != nil {
		return err
	}
	domainID, err := c.create("/domains", map[string]any{"domain": map[string]any{"name": domain, "dns_id": proxyID}})
	if err != nil {
		return err
	}
	subnetID, err := c.create("/subnets", map[string]any{"subnet": map[string]any{
		"name": "bench", "network": "10.10.0.0", "mask": "255.255.0.0", "gateway": "10.10.255.254",
		"boot_mode": "Static", "ipam": "None", "dns_id": proxyID, "tftp_id": proxyID, "domain_ids": []int64{domainID}}})
	if err != nil {
		return err
	}

	next := make(chan int)
	go func() {
		for n := range count {
			next <- n
		}
		close(next)
	}()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				t := time.Now()
				_, err := c.create("/hosts", host(n, domainID, subnetID))
				took := time.Since(t)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				latencies = append(latencies, took)
				stop := firstErr != nil
				mu.Unlock()
				if stop {
					for range next { // drain so the feeder ends
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	slices.Sort(latencies)
	at := func(q float64) float64 { return float64(latencies[int(q*float64(len(latencies)-1))]) / 1e6 }
	fmt.Printf("seeded %d hosts through the API in %.1f s: %.0f creates/s p50 %.2f ms p99 %.2f ms max %.2f ms (%d clients)\n",
		count, elapsed.Seconds(), float64(count)/elapsed.Seconds(), at(0.5), at(0.99), at(1), concurrency)
	return nil
}
