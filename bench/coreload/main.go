// Command coreload creates hosts through foreman-core's API the way Satellite's
// performance suite does: C concurrent API clients, each posting one host after the
// other (full orchestration: every create waits for its DNS, DHCP and TFTP steps) for
// a duration. It prints one line: clients, hosts created, hosts/s, p50, p99 and max
// latency per host, and exits 1 if any create was not a 201.
//
//	coreload -url http://127.0.0.1:3000 -password P -c 10 -d 10s -offset 0 \
//	    -domain 1 -subnet 1 -os 1 -medium 1 -arch 1 -network 10.200
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
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:3000", "foreman-core URL")
	user := flag.String("user", "admin", "API user")
	password := flag.String("password", "", "API password")
	clients := flag.Int("c", 1, "concurrent API clients")
	duration := flag.Duration("d", 10*time.Second, "how long to create hosts")
	offset := flag.Int("offset", 0, "first host number (names, MACs and IPs come from it)")
	limit := flag.Int("n", 15000, "create at most this many hosts")
	network := flag.String("network", "10.200", "a /16 the hosts' addresses come from (first two octets)")
	domain := flag.Int64("domain", 0, "domain id (0: none)")
	subnet := flag.Int64("subnet", 0, "subnet id (0: none)")
	osID := flag.Int64("os", 0, "operating system id (0: none)")
	medium := flag.Int64("medium", 0, "medium id (0: none)")
	arch := flag.Int64("arch", 0, "architecture id (0: none)")
	loader := flag.String("loader", "PXELinux BIOS", "PXE loader (\"\": none)")
	build := flag.Bool("build", true, "create hosts in build mode")
	prefix := flag.String("prefix", "load", "host names are <prefix><6-digit number>")
	flag.Parse()

	transport := &http.Transport{MaxIdleConnsPerHost: *clients}
	client := &http.Client{Transport: transport, Timeout: time.Minute}
	var next atomic.Int64
	next.Store(int64(*offset))
	end := int64(*offset + *limit)
	deadline := time.Now().Add(*duration)
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []string
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n := next.Add(1) - 1
				if n >= end {
					return
				}
				host := map[string]any{
					"name":  fmt.Sprintf("%s%06d", *prefix, n),
					"ip":    fmt.Sprintf("%s.%d.%d", *network, n/250, n%250+1),
					"mac":   fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", byte(n>>24), byte(n>>16), byte(n>>8), byte(n)),
					"build": *build,
				}
				for key, id := range map[string]int64{"domain_id": *domain, "subnet_id": *subnet,
					"operatingsystem_id": *osID, "medium_id": *medium, "architecture_id": *arch} {
					if id != 0 { // 0: left out (no domain and subnet: no proxy is asked)
						host[key] = id
					}
				}
				if *loader != "" {
					host["pxe_loader"] = *loader
				}
				body, _ := json.Marshal(map[string]any{"host": host})
				req, _ := http.NewRequest(http.MethodPost, *base+"/api/v2/hosts", bytes.NewReader(body))
				req.SetBasicAuth(*user, *password)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				var reply []byte
				if err == nil {
					reply, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				took := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case resp.StatusCode != http.StatusCreated:
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, reply))
				default:
					latencies = append(latencies, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
	}
	fmt.Printf("clients %d hosts %d ok %.1f/s p50 %.1f ms p99 %.1f ms max %.1f ms failed %d\n",
		*clients, len(latencies), float64(len(latencies))/elapsed.Seconds(), pct(0.50), pct(0.99), pct(1), len(failures))
	if len(failures) > 0 {
		fmt.Fprintf(os.Stderr, "%d creates failed, first: %s\n", len(failures), failures[0])
		os.Exit(1)
	}
}
