package embedded_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reservation writes through the REST API of a child proxy (no DHCP traffic, so no
// namespaces): what a 200 promises must hold after kill -9, under concurrency and
// when the client stops listening.

// apiOnlyProxyDir is a child proxy whose DHCP socket is an ephemeral loopback port.
func apiOnlyProxyDir(t *testing.T, stateDir string) (settingsPath, url string) {
	return writeProxyDir(t, fmt.Sprintf(`
:listen: 127.0.0.1:0
:state_dir: %s
:fsync: true
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
`, stateDir))
}

// reservationWrite is one create or delete of the MAC/IP pair a test client owns.
type reservationWrite struct {
	create  bool
	mac, ip string
}

func (w reservationWrite) request() (method, path string, form url.Values) {
	if w.create {
		return "POST", "/dhcp/10.99.0.0", url.Values{"hostname": {"h-" + strings.ReplaceAll(w.mac, ":", "")}, "mac": {w.mac}, "ip": {w.ip}}
	}
	return "DELETE", "/dhcp/10.99.0.0/mac/" + w.mac, nil
}

// clientWrite is the n-th pair of test client c: every MAC is used once.
func clientWrite(c, n int, create bool) reservationWrite {
	return reservationWrite{create: create, mac: fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", c, n>>16&0xff, n>>8&0xff, n&0xff),
		ip: fmt.Sprintf("10.99.%d.%d", 1+c*3+n/250, n%250+1)}
}

// halfClosed sends w on its own connection, closes the sending side (the server
// then sees the client go and cancels the request's context) and reads the answer.
func halfClosed(t *testing.T, base string, w reservationWrite) (int, string) {
	t.Helper()
	method, path, form := w.request()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer conn.Close()
	body := form.Encode()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		method, path, len(body), body)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Error(err)
		return 0, ""
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// apiReservations is GET /dhcp/10.99.0.0's reservations as MAC -> IP.
func apiReservations(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/dhcp/10.99.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var subnet struct{ Reservations []struct{ IP, MAC string } }
	if err := json.NewDecoder(resp.Body).Decode(&subnet); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range subnet.Reservations {
		out[r.MAC] = r.IP
	}
	return out
}

// journalReservations replays the journal's reserve/unreserve lines: MAC -> IP.
func journalReservations(t *testing.T, stateDir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "dhcp_embedded.journal"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		var e struct{ K, IP, MAC string }
		if !strings.HasSuffix(line, "\n") || json.Unmarshal([]byte(line), &e) != nil {
			continue // a line torn by kill -9 was never acknowledged
		}
		switch e.K {
		case "reserve":
			out[e.MAC] = e.IP
		case "unreserve":
			if out[e.MAC] == e.IP {
				delete(out, e.MAC)
			}
		}
	}
	return out
}

// sameReservations fails unless got and want hold the same MAC -> IP pairs.
func sameReservations(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for mac, ip := range want {
		if got[mac] != ip {
			t.Fatalf("%s: %s should be reserved to %s, is %q", what, mac, ip, got[mac])
		}
	}
	for mac, ip := range got {
		if _, ok := want[mac]; !ok {
			t.Fatalf("%s: %s -> %s should not be there", what, mac, ip)
		}
	}
}

// TestWritesOfClientsThatLeftAreFinished: clients that half-close their side
// right after sending (the server cancels their request contexts) still get the
// truth. The writes were queued before the server saw them leave, so they are
// finished and answered 200, and the API, the journal and a restarted proxy agree.
func TestWritesOfClientsThatLeftAreFinished(t *testing.T) {
	stateDir := t.TempDir()
	settingsPath, base := apiOnlyProxyDir(t, stateDir)
	proxy := startProxyProcess(t, settingsPath, base)

	const clients, perClient = 16, 8
	run := func(create func(n int) bool) {
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; n < perClient; n++ {
					if !create(n) && n%2 == 1 {
						continue // odd pairs are kept
					}
					w := clientWrite(c, n, create(n))
					if status, msg := halfClosed(t, base, w); status != http.StatusOK {
						t.Errorf("half-closed %+v: %d %q, want 200 (the write was handed to the journal)", w, status, msg)
					}
				}
			}()
		}
		wg.Wait()
	}
	run(func(int) bool { return true })  // every pair created
	run(func(int) bool { return false }) // even pairs deleted
	if t.Failed() {
		t.FailNow()
	}
	want := map[string]string{}
	for c := 0; c < clients; c++ {
		for n := 1; n < perClient; n += 2 {
			w := clientWrite(c, n, true)
			want[w.mac] = w.ip
		}
	}
	sameReservations(t, "API", apiReservations(t, base), want)
	sameReservations(t, "journal", journalReservations(t, stateDir), want)
	proxy.kill9(t)
	startProxyProcess(t, settingsPath, base)
	sameReservations(t, "API after kill -9 and restart", apiReservations(t, base), want)
}

// TestAckedReservationsSurviveKill9: 64 clients create and delete reservations
// concurrently (their writes share journal commits) until the proxy is killed
// with -9 mid-load. Every acknowledged create whose delete was never acknowledged is in
// the journal and served after restart; every acknowledged delete stays done.
func TestAckedReservationsSurviveKill9(t *testing.T) {
	stateDir := t.TempDir()
	settingsPath, base := apiOnlyProxyDir(t, stateDir)
	proxy := startProxyProcess(t, settingsPath, base)

	const clients = 64
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 10 * time.Second}
	send := func(w reservationWrite) bool {
		method, path, form := w.request()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := httpClient.Do(req)
		if err != nil {
			return false // the proxy died: no answer, no promise
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		return resp.StatusCode == http.StatusOK
	}
	var mu sync.Mutex
	kept := map[string]string{}    // acknowledged creates, minus deletes that may have landed
	deleted := map[string]string{} // acknowledged deletes
	maybe := map[string]bool{}     // creates whose delete was sent but not answered
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Even pairs are deleted right after their create, odd ones kept.
			for n := 0; n < 750; n++ {
				w := clientWrite(c, n, true)
				if !send(w) {
					return
				}
				mu.Lock()
				kept[w.mac] = w.ip
				mu.Unlock()
				if n%2 == 1 {
					continue
				}
				w.create = false
				ok := send(w)
				mu.Lock()
				delete(kept, w.mac)
				if ok {
					deleted[w.mac] = w.ip
				} else {
					maybe[w.mac] = true
				}
				mu.Unlock()
				if !ok {
					return
				}
			}
		}()
	}
	// Kill mid-load once enough was acknowledged (a slow -race build takes longer).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		enough := len(kept) >= 1000 && len(deleted) >= 1000
		mu.Unlock()
		if enough {
			break
		}
	}
	proxy.kill9(t)
	wg.Wait()
	if len(kept) < 200 || len(deleted) < 200 {
		t.Fatalf("only %d kept and %d deleted reservations acknowledged before kill -9: the test proves nothing\n%s", len(kept), len(deleted), proxy.logs)
	}

	check := func(what string, got map[string]string) {
		t.Helper()
		for mac, ip := range kept {
			if got[mac] != ip {
				t.Fatalf("%s: acknowledged reservation %s -> %s is missing (%q)", what, mac, ip, got[mac])
			}
		}
		for mac, ip := range got {
			if _, ok := kept[mac]; !ok && !maybe[mac] {
				if _, gone := deleted[mac]; gone {
					t.Fatalf("%s: %s -> %s is back although its delete was acknowledged", what, mac, ip)
				}
				// An unanswered create may have landed: allowed.
			}
		}
	}
	check("journal left by kill -9", journalReservations(t, stateDir))
	startProxyProcess(t, settingsPath, base)
	check("API after restart", apiReservations(t, base))
	t.Logf("%d reservations kept and %d deleted with a 200 before kill -9: all as acknowledged after restart", len(kept), len(deleted))
}
