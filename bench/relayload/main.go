// Command relayload measures the zone relay (features/relay) for bench/relay.sh. It
// has three modes:
//
//	relayload core -listen 127.0.0.1:P -cert core.pem -key core-key.pem -ca ca.pem
//	    a stand-in core over mTLS: answers 201 to reports (stored once per
//	    Idempotency-Key), a small YAML to GET /node/<name>, and GET /count with the
//	    number of reports stored; runs until killed.
//	relayload load -url URL -mode report|enc -c 16 -d 10s -cert -key -ca
//	    clients posting reports (or asking the ENC) on keep-alive connections for -d;
//	    prints "<done> <per second> <p50 ms> <p99 ms>"; exits 1 on any unexpected status.
//	relayload burst -url URL -n 5000 -c 16 ...
//	    posts exactly -n reports, then exits.
//	relayload wait -url CORE -n N -timeout 120s ...
//	    polls the core's /count until it reaches N; prints the seconds waited.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: relayload core|load|burst|wait [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "core: address to listen on")
	url := fs.String("url", "", "relay or core URL")
	mode := fs.String("mode", "report", "load: report or enc")
	conc := fs.Int("c", 16, "concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "load: duration")
	n := fs.Int("n", 1000, "burst: reports to post; wait: reports to wait for")
	timeout := fs.Duration("timeout", 120*time.Second, "wait: give up after")
	certFile := fs.String("cert", "", "client (core: server) certificate")
	keyFile := fs.String("key", "", "its key")
	caFile := fs.String("ca", "", "CA certificate")
	fs.Parse(os.Args[2:])

	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	check(err)
	pemCA, err := os.ReadFile(*caFile)
	check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)

	switch os.Args[1] {
	case "core":
		runCore(*listen, pair, pool)
	case "load":
		runLoad(client(pair, pool, *conc), *url, *mode, *conc, *dur)
	case "burst":
		runBurst(client(pair, pool, *conc), *url, *n, *conc)
	case "wait":
		runWait(client(pair, pool, 1), *url, *n, *timeout)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "relayload:", err)
		os.Exit(1)
	}
}

func client(pair tls.Certificate, pool *x509.CertPool, conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
		MaxIdleConnsPerHost: conns,
	}}
}

func runCore(listen string, pair tls.Certificate, pool *x509.CertPool) {
	var mu sync.Mutex
	seen := map[string]bool{}
	stored := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/count", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, stored)
	})
	mux.HandleFunc("/node/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "---\nparameters:\n  foreman_fqdn: %s\nclasses:\n  motd:\n", strings.TrimPrefix(r.URL.Path, "/node/"))
	})
	mux.HandleFunc("/api/config_reports", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		if key == "" || !seen[key] {
			stored++
			if key != "" {
				seen[key] = true
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1}`)
	})
	srv := &http.Server{Addr: listen, Handler: mux, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}}
	check(srv.ListenAndServeTLS("", ""))
}

// report is a config report of the size report.rb sends for a small run (~2 KB).
var report = func() string {
	logs := make([]string, 12)
	for i := range logs {
		logs[i] = fmt.Sprintf(`{"log":{"level":"notice","sources":{"source":"/Stage[main]/Main/File[/etc/motd.%d]/content"},"messages":{"message":"content changed '{md5}0123456789abcdef' to '{md5}fedcba9876543210'"}}}`, i)
	}
	return `{"config_report":{"host":"web01.example.test","reported_at":"2026-12-06 00:37:21 UTC",` +
		`"status":{"applied":1,"restarted":0,"failed":0,"failed_restarts":0,"skipped":0,"pending":0},` +
		`"metrics":{"resources":{"total":10,"changed":1},"time":{"config_retrieval":1.2,"total":3.4},"changes":{"total":1},"events":{"total":1,"success":1}},` +
		`"logs":[` + strings.Join(logs, ",") + `]}}`
}()

// one sends one request of mode and returns whether the answer was the expected one.
func one(c *http.Client, url, mode string) error {
	var resp *http.Response
	var err error
	want := http.StatusCreated
	if mode == "enc" {
		want = http.StatusOK
		resp, err = c.Get(url + "/node/web01.example.test?format=yml")
	} else {
		resp, err = c.Post(url+"/api/config_reports", "application/json", strings.NewReader(report))
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func runLoad(c *http.Client, url, mode string, conc int, dur time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				t := time.Now()
				if err := one(c, url, mode); err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "relayload:", err)
					}
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 || len(lat) == 0 {
		fmt.Fprintf(os.Stderr, "relayload: %d requests failed\n", failed.Load())
		os.Exit(1)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	fmt.Printf("%d %.0f %.3f %.3f\n", len(lat), float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99))
}

func runBurst(c *http.Client, url string, n, conc int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				check(one(c, url, "report"))
			}
		}()
	}
	wg.Wait()
}

func runWait(c *http.Client, url string, n int, timeout time.Duration) {
	start := time.Now()
	for time.Since(start) < timeout {
		resp, err := c.Get(url + "/count")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, _ := strconv.Atoi(string(b)); got >= n {
				fmt.Printf("%.3f\n", time.Since(start).Seconds())
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "relayload: the core did not reach %d reports in %s\n", n, timeout)
	os.Exit(1)
}
