package main

// The real binary under a hostile client (issue 15, items 1 and 2): thousands of
// connections that trickle a request body, and 64 clients posting 10 MiB to an unknown
// URL, while a normal client, a TFTP client and a DHCP client must still be served;
// then slow clients from enough addresses to fill max_connections, while TFTP and
// DHCP must still be served.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

const (
	hostileOpenFiles    = 4096 // RLIMIT_NOFILE of the proxy: derived cap (4096-512)/2 = 1792
	hostileTimeout      = 3    // request_timeout, seconds
	hostilePerClient    = 200  // max_connections_per_client
	slowAttackerIPs     = 6    // 127.0.1.1 .. 127.0.1.6
	slowPerAttacker     = 500  // connections tried from each: 300 over the per-client cap
	bigBodyClients      = 64
	bigBodySize         = 10 << 20
	featuresWithin      = 100 * time.Millisecond // the goal: logged when missed
	featuresBroken      = time.Second            // 10 times the goal: the limits do not work
	maxRSSUnderAttackKB = 150 << 10
)

func TestHostileClients(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the DHCP client listens on port 67 as a relay")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit not installed (apt-get install util-linux)")
	}
	p := newPKI(t)
	tftpRoot := t.TempDir()
	bootFile := make([]byte, 256<<10)
	_, _ = rand.Read(bootFile)
	writeFile(t, tftpRoot, "pxelinux.0", string(bootFile))
	tftpPort, dhcpPort := freeUDPPort(t), freeUDPPort(t)
	// The log goes to a file: thousands of lines through a pipe this busy test reads
	// would make the proxy wait on the test, not on its own work.
	logFile := filepath.Join(t.TempDir(), "proxy.log")
	extra := fmt.Sprintf(":request_timeout: %d\n:max_connections_per_client: %d\n:log_file: %s\n",
		hostileTimeout, hostilePerClient, logFile)
	px := startProxyWith(t, p, extra, map[string]string{
		"tftp.yml": fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: 127.0.0.1:%d\n", tftpRoot, tftpPort),
		"dhcp.yml": ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(`:listen: 127.0.0.1:%d
:state_dir: %s
:subnets:
  - :network: 192.168.122.0
    :netmask: 255.255.255.0
    :range: [192.168.122.100, 192.168.122.200]
    :routers: [192.168.122.1]
    :lease_time: 600
`, dhcpPort, t.TempDir()),
	}, func(cmd *exec.Cmd) {
		limit := fmt.Sprintf("--nofile=%d:%d", hostileOpenFiles, hostileOpenFiles)
		cmd.Args = append([]string{prlimit, limit, "--"}, cmd.Args...)
		cmd.Path = prlimit
	})
	pid := px.cmd.Process.Pid
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("the proxy's log (last 8 KiB):\n%s", log[max(0, len(log)-8192):])
		}
	})
	if log, _ := os.ReadFile(logFile); !bytes.Contains(log, fmt.Appendf(nil, "Open files limit: soft %d", hostileOpenFiles)) {
		t.Fatalf("the proxy did not log its open files limit %d:\n%s", hostileOpenFiles, log)
	}
	baseFDs, baseRSS := openFDs(t, pid), rssKB(t, pid)
	addr := strings.TrimPrefix(px.httpURL, "http://")
	calm := probeFeatures(t, px.httpURL)

	var attack sync.WaitGroup
	stopBig := make(chan struct{})
	slow := &slowResults{}
	for ip := 1; ip <= slowAttackerIPs; ip++ {
		for i := 0; i < slowPerAttacker; i++ {
			attack.Add(1)
			go func() {
				defer attack.Done()
				slow.run(fmt.Sprintf("127.0.1.%d", ip), addr)
			}()
		}
	}
	big := &bigResults{statuses: map[int]int{}}
	var bigDone sync.WaitGroup
	body := make([]byte, bigBodySize)
	for i := 0; i < bigBodyClients; i++ {
		bigDone.Add(1)
		go func() {
			defer bigDone.Done()
			big.run(addr, body, stopBig)
		}()
	}

	// Sample descriptors and memory until the slow connections are all gone.
	var maxFDs, maxRSS atomic.Int64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(openFDs(t, pid)); n > maxFDs.Load() {
				maxFDs.Store(n)
			}
			if n := int64(rssKB(t, pid)); n > maxRSS.Load() {
				maxRSS.Store(n)
			}
			select {
			case <-sampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// While the attack runs: the API, TFTP and DHCP keep serving.
	time.Sleep(500 * time.Millisecond)
	latencies := probeFeatures(t, px.httpURL)
	if got := tftpGet(t, tftpPort, "pxelinux.0"); !bytes.Equal(got, bootFile) {
		t.Errorf("TFTP under attack: got %d bytes, want the %d of pxelinux.0", len(got), len(bootFile))
	}
	if ip, err := dhcpExchange(dhcpPort); err != nil {
		t.Errorf("DHCP under attack: %v", err)
	} else if !strings.HasPrefix(ip, "192.168.122.") {
		t.Errorf("DHCP under attack: ACK for %s, want an address of 192.168.122.100-200", ip)
	}
	close(stopBig)
	bigDone.Wait()
	attack.Wait()
	close(sampling)
	<-sampled

	t.Logf("baseline: %d fds, %d KiB RSS, GET /features %v; under attack: max %d fds, max %d KiB RSS", baseFDs, baseRSS, calm, maxFDs.Load(), maxRSS.Load())
	t.Logf("slow bodies: %d admitted, %d refused, cut off after %s..%s; 10 MiB posts: %v, %d failed writes; GET /features: %v",
		slow.admitted.Load(), slow.refused.Load(), time.Duration(slow.minCut.Load()), time.Duration(slow.maxCut.Load()),
		big.statuses, big.errors.Load(), latencies)

	// 1: slow bodies take at most their per-client share, and are cut off in time.
	// The cap counts connections open at once: when dialling them all took longer than
	// request_timeout (a loaded machine), the first ones were cut before the last came
	// and freed their slots, so only the lower bound and the descriptors say something.
	most := int64(slowAttackerIPs * hostilePerClient)
	if got := slow.admitted.Load(); got < most/2 || (got > most && slow.dialSpan() < time.Second) {
		t.Errorf("%d slow connections admitted (dialled within %s), want at most %d (the per-client cap) and most of them", got, slow.dialSpan(), most)
	} else if got > most {
		t.Logf("%d slow connections admitted over the per-client cap %d: dialling them took %s, over request_timeout", got, most, slow.dialSpan())
	}
	if slow.refused.Load() == 0 {
		t.Error("no slow connection refused past max_connections_per_client")
	}
	if slow.wrong.Load() > 0 {
		t.Errorf("%d slow connections were not answered 408", slow.wrong.Load())
	}
	// (The clock starts when the test has sent the headers; the proxy's when it accepted,
	// which a loaded machine can delay by a second or two.)
	if cut := time.Duration(slow.maxCut.Load()); cut > (hostileTimeout+10)*time.Second {
		t.Errorf("a slow body stayed open %s, want it cut at request_timeout %ds", cut, hostileTimeout)
	}
	// 2: a 10 MiB body to an unknown URL is not read.
	if n := big.statuses[http.StatusNotFound]; n < bigBodyClients || len(big.statuses) != 1 {
		t.Errorf("10 MiB posts to /no-such-route: statuses %v, want only 404 (at least %d)", big.statuses, bigBodyClients)
	}
	// Bounded: descriptors by the caps (the 10 MiB posters' address too: net/http keeps
	// a connection it answered before reading the body for half a second to avoid a
	// reset), memory by what is never read.
	if most := int64(baseFDs + (slowAttackerIPs+1)*hostilePerClient + 64); maxFDs.Load() > most {
		t.Errorf("%d descriptors open under attack, want at most %d", maxFDs.Load(), most)
	}
	if maxRSS.Load() > maxRSSUnderAttackKB {
		t.Errorf("RSS reached %d KiB, want under %d KiB", maxRSS.Load(), maxRSSUnderAttackKB)
	}
	// The 90th percentile, not the worst. Over the goal is logged: on a machine shared
	// with other jobs a request can wait for a CPU whatever the proxy does. It fails
	// at ten times the goal (or twice the calm time on a slow machine): without the
	// limits, requests were not answered at all (no descriptor left to accept them).
	bound := max(featuresBroken, 2*p90(calm))
	switch got := p90(latencies); {
	case got > bound:
		t.Errorf("GET /features: 90%% took up to %s under attack, want within %s (goal %s; before the attack: %v; under it: %v)", got, bound, featuresWithin, calm, latencies)
	case got > featuresWithin:
		t.Logf("GET /features: 90%% took up to %s under attack, over the %s goal (a loaded machine? before the attack: %v)", got, featuresWithin, calm)
	}
	// Refusals are counted, and the descriptors come back.
	normal := &http.Client{Timeout: 5 * time.Second}
	metrics := get(t, normal, px.httpURL+"/metrics").body
	if !strings.Contains(metrics, "smartproxy_http_connections_max 1792\n") {
		t.Errorf("/metrics lacks the derived max_connections 1792")
	}
	if n := metricValue(metrics, `smartproxy_http_connections_refused_total{reason="max_connections_per_client"}`); n < slow.refused.Load() {
		t.Errorf("/metrics counts %d refusals over max_connections_per_client, the slow clients alone met %d", n, slow.refused.Load())
	}
	if n := metricValue(metrics, `smartproxy_http_requests_refused_total{reason="body_timeout"}`); n != slow.admitted.Load() {
		t.Errorf("/metrics counts %d body timeouts, want %d", n, slow.admitted.Load())
	}
	deadline := time.Now().Add(30 * time.Second)
	for openFDs(t, pid) > baseFDs+16 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := openFDs(t, pid); n > baseFDs+16 {
		t.Errorf("%d descriptors open after the attack, baseline %d", n, baseFDs)
	}

	// 3: from more addresses than max_connections has room for, slow clients fill the
	// global cap. The API then refuses new connections until theirs time out, but the
	// descriptors stay bounded by the cap and TFTP and DHCP go on serving.
	flood := &slowResults{}
	var flooding sync.WaitGroup
	const floodIPs = 10 // 10 x 200 = 2000 tried, over the 1792 allowed
	for ip := 1; ip <= floodIPs; ip++ {
		for i := 0; i < hostilePerClient; i++ {
			flooding.Add(1)
			go func() {
				defer flooding.Done()
				flood.run(fmt.Sprintf("127.0.3.%d", ip), addr)
			}()
		}
	}
	for deadline := time.Now().Add(30 * time.Second); flood.dialed.Load() < floodIPs*hostilePerClient && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the last accepted ones reach the gate
	fullFDs := openFDs(t, pid)
	if got := tftpGet(t, tftpPort, "pxelinux.0"); !bytes.Equal(got, bootFile) {
		t.Errorf("TFTP with max_connections full: got %d bytes, want the %d of pxelinux.0", len(got), len(bootFile))
	}
	if _, err := dhcpExchange(dhcpPort); err != nil {
		t.Errorf("DHCP with max_connections full: %v", err)
	}
	flooding.Wait()
	t.Logf("flood from %d addresses: %d admitted, %d refused, %d descriptors open, dialled within %s", floodIPs, flood.admitted.Load(), flood.refused.Load(), fullFDs, flood.dialSpan())
	// As above: the exact count only when all were dialled before the first could time out.
	exact := flood.dialSpan() < time.Second
	if got := flood.admitted.Load(); got < 1792-100 || (exact && got > 1792) {
		t.Errorf("%d slow connections admitted with max_connections 1792", got)
	}
	if fullFDs > baseFDs+1792+32 {
		t.Errorf("%d descriptors open with max_connections 1792 full, baseline %d", fullFDs, baseFDs)
	}
	metrics = get(t, normal, px.httpURL+"/metrics").body
	if n := metricValue(metrics, `smartproxy_http_connections_refused_total{reason="max_connections"}`); exact && n < floodIPs*hostilePerClient-1792 {
		t.Errorf("/metrics counts %d refusals over max_connections, want at least %d", n, floodIPs*hostilePerClient-1792)
	}
}

// slowResults is what the slow-body connections met.
type slowResults struct {
	dialed, admitted, refused, wrong atomic.Int64
	minCut, maxCut                   atomic.Int64 // nanoseconds from headers sent to the server's close
	firstDial, lastDial              atomic.Int64 // unix nanoseconds when a dial returned
}

// dialSpan is the time from the first dial's return to the last one's.
func (r *slowResults) dialSpan() time.Duration {
	return time.Duration(r.lastDial.Load() - r.firstDial.Load())
}

// run opens one connection from local, sends headers announcing a form body and then
// one byte a second, and records whether the proxy refused it at once or answered
// and closed it, and when.
func (r *slowResults) run(local, addr string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	now := time.Now().UnixNano()
	r.firstDial.CompareAndSwap(0, now)
	for last := r.lastDial.Load(); now > last; last = r.lastDial.Load() {
		if r.lastDial.CompareAndSwap(last, now) {
			break
		}
	}
	r.dialed.Add(1)
	if err != nil {
		r.refused.Add(1)
		return
	}
	defer c.Close()
	start := time.Now()
	_, err = fmt.Fprintf(c, "POST /tftp/PXELinux/52:54:00:00:00:01 HTTP/1.1\r\nHost: proxy\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\npxeconfig=")
	reader := bufio.NewReader(c)
	for err == nil && time.Since(start) < 20*time.Second {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		var line string
		line, err = reader.ReadString('\n')
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			_, err = c.Write([]byte("a"))
			continue
		}
		if err == nil { // the answer's status line: the server gave up on the body
			r.record(time.Since(start))
			if !strings.HasPrefix(line, "HTTP/1.1 408 ") {
				r.wrong.Add(1)
			}
			return
		}
	}
	// Reset without an answer: refused on accept (which, on a loaded machine, can come
	// a while after the kernel completed the handshake).
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		r.refused.Add(1)
		return
	}
	r.record(time.Since(start))
	r.wrong.Add(1)
}

func (r *slowResults) record(d time.Duration) {
	r.admitted.Add(1)
	for {
		old := r.maxCut.Load()
		if int64(d) <= old || r.maxCut.CompareAndSwap(old, int64(d)) {
			break
		}
	}
	for {
		old := r.minCut.Load()
		if (old != 0 && int64(d) >= old) || r.minCut.CompareAndSwap(old, int64(d)) {
			break
		}
	}
}

// bigResults counts the answers to 10 MiB posts.
type bigResults struct {
	mu       sync.Mutex
	statuses map[int]int
	errors   atomic.Int64
}

// run posts body to /no-such-route, again and again until stop, from 127.0.2.1.
func (r *bigResults) run(addr string, body []byte, stop <-chan struct{}) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, 1)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	defer client.CloseIdleConnections()
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := client.Post("http://"+addr+"/no-such-route", "application/x-www-form-urlencoded", bytes.NewReader(body))
		if err != nil {
			r.errors.Add(1) // the proxy answered and closed before the body was written
			time.Sleep(100 * time.Millisecond)
			continue
		}
		resp.Body.Close()
		r.mu.Lock()
		r.statuses[resp.StatusCode]++
		r.mu.Unlock()
		time.Sleep(100 * time.Millisecond) // relentless, but leave the shared CI machine some CPU
	}
}

// metricValue is the value of one sample line of /metrics (-1 when absent).
func metricValue(page, sample string) int64 {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Errorf("reading the proxy's descriptors: %v", err)
	}
	return len(entries)
}

// rssKB is the process's resident set size.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Errorf("reading the proxy's status: %v", err)
		return 0
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// probeFeatures is 20 GETs of /features, 50 ms apart, and their times, sorted.
func probeFeatures(t *testing.T, base string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := 0; i < 20; i++ {
		out = append(out, curlFeatures(t, base))
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(out)
	return out
}

func p90(sorted []time.Duration) time.Duration { return sorted[len(sorted)*9/10-1] }

// curlFeatures is GET /features from curl, a client in its own process, so the time
// is the proxy's and not the attacking test's goroutines'; it returns curl's total time.
// A request not answered within 10 s fails the test.
func curlFeatures(t *testing.T, base string) time.Duration {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (apt-get install curl)")
	}
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "-w", `\n%{http_code} %{time_total}`, base+"/features").CombinedOutput()
	body, status, _ := strings.Cut(string(out), "\n")
	var code int
	var seconds float64
	if _, scanErr := fmt.Sscanf(status, "%d %g", &code, &seconds); err != nil || scanErr != nil || code != http.StatusOK || body != `["dhcp","logs","tftp"]` {
		t.Errorf("GET /features under attack: %v %q", err, out)
	}
	return time.Duration(seconds * float64(time.Second))
}

// tftpGet fetches a file from the embedded TFTP server with curl, a real TFTP client.
func tftpGet(t *testing.T, port int, name string) []byte {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (apt-get install curl)")
	}
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, curl, "-sS", "-o", out, fmt.Sprintf("tftp://127.0.0.1:%d/%s", port, name)).CombinedOutput(); err != nil {
		t.Errorf("curl tftp: %v: %s", err, msg)
		return nil
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Error(err)
	}
	return b
}

// dhcpExchange is a DISCOVER, OFFER, REQUEST, ACK with the embedded DHCP server on
// loopback, as a relay would send it: giaddr is a loopback address of our own on
// port 67 (where the server answers relays), and option 118 selects the subnet.
// It returns the acknowledged address.
func dhcpExchange(serverPort int) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	giaddr := net.IPv4(127, 100+b[0]%100, 1+b[1]%250, 1+b[2]%250).To4()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: giaddr, Port: 67})
	if err != nil {
		return "", fmt.Errorf("listening as a relay on %s:67: %w", giaddr, err)
	}
	defer conn.Close()
	server := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: serverPort}
	relay := []dhcpv4.Modifier{dhcpv4.WithGatewayIP(giaddr),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionSubnetSelection, net.IPv4(192, 168, 122, 1).To4()))}
	mac := net.HardwareAddr{0x52, 0x54, 0x00, b[3], b[4], b[5]}
	exchange := func(req *dhcpv4.DHCPv4, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
		if _, err := conn.WriteToUDP(req.ToBytes(), server); err != nil {
			return nil, err
		}
		buf := make([]byte, 1500)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return nil, fmt.Errorf("waiting for %s: %w", want, err)
			}
			reply, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || reply.TransactionID != req.TransactionID {
				continue
			}
			if reply.MessageType() != want {
				return nil, fmt.Errorf("got %s, want %s", reply.MessageType(), want)
			}
			return reply, nil
		}
	}
	discover, err := dhcpv4.NewDiscovery(mac, relay...)
	if err != nil {
		return "", err
	}
	offer, err := exchange(discover, dhcpv4.MessageTypeOffer)
	if err != nil {
		return "", err
	}
	request, err := dhcpv4.NewRequestFromOffer(offer, relay...)
	if err != nil {
		return "", err
	}
	ack, err := exchange(request, dhcpv4.MessageTypeAck)
	if err != nil {
		return "", err
	}
	return ack.YourIPAddr.String(), nil
}

// TestFormLimitsOnTheDHCPAPI: a form over max_body_bytes or with more than 10,000
// fields is refused with what is wrong, not with DHCP's "Invalid IP Address " for
// fields that were dropped.
func TestFormLimitsOnTheDHCPAPI(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, ":max_body_bytes: 65536\n", map[string]string{
		"dhcp.yml": ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:%d\n:state_dir: %s\n:subnets:\n"+
			"  - :network: 192.168.122.0\n    :netmask: 255.255.255.0\n", freeUDPPort(t), t.TempDir()),
	})
	valid := "ip=192.168.122.10&mac=52:54:00:00:00:10&hostname=web10.example.test"
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, form string
		status     int
		message    string
	}{
		{"a valid form", valid, http.StatusOK, ""},
		{"over max_body_bytes", valid + "&pad=" + strings.Repeat("x", 70000), http.StatusRequestEntityTooLarge,
			"Request body too large: this route takes at most 65536 bytes"},
		{"over 10,000 fields", valid + strings.Repeat("&f=1", 10000), http.StatusBadRequest,
			"Too many fields in the form: 10003, at most 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, px.httpURL+"/dhcp/192.168.122.0", strings.NewReader(tc.form))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body strings.Builder
			_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
			if resp.StatusCode != tc.status || body.String() != tc.message {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body.String(), tc.status, tc.message)
			}
		})
	}
}
