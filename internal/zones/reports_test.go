package zones

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// outage is how long the DMZ relay stays down while reports are posted in PFS: 30 s as
// issue 13 asks; $SMARTPROXY_ZONES_OUTAGE (a Go duration) shortens it for local runs.
func outage(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("SMARTPROXY_ZONES_OUTAGE")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("SMARTPROXY_ZONES_OUTAGE=%q: want a duration like 5s", v)
	}
	return d
}

const reportCount = 1000

// factsAndReports: the Puppet server in PFS (its own address, 10.213.3.7) posts facts
// and then 1,000 reports to the PFS proxy's relay. The DMZ relay is stopped after the
// 300th report and started again after the 800th, no sooner than the outage; the PFS
// proxy is killed with SIGKILL after the 600th and started again. The core must store
// each report once, in the order posted, and see the Puppet server's address as the
// client's (its request log, which uses trusted_proxies, the X-Forwarded-For chain),
// not the address the Puppet server claims in its own X-Forwarded-For.
func (s *site) factsAndReports(t *testing.T) {
	t.Helper()
	puppet := s.pki.client(s.z.pfs, puppetIP, s.certs[puppetName])
	post := func(what, path, body string) {
		t.Helper()
		// A claim of another address must not become the client's: the Puppet server is
		// not a trusted relay.
		a, err := do(puppet, "POST", pfsLanURL+path, "application/json", body,
			map[string]string{"Accept": "application/json", "X-Forwarded-For": "198.51.100.9"})
		if err != nil || a.status != http.StatusCreated || !strings.Contains(a.body, `"queued":true`) {
			t.Fatalf("%s to the PFS relay: %v %d %s", what, err, a.status, a.body)
		}
	}

	marker := fmt.Sprintf("zones-%d", time.Now().UnixNano())
	post("facts", "/api/v2/hosts/facts", fmt.Sprintf(`{"name":%q,"certname":%[1]q,"facts":{"osfamily":"Debian","zones_marker":%q}}`, puppetName, marker))
	waitFor(t, "the facts at the core", 30*time.Second, func() bool {
		status, v := s.api.call("GET", "/api/v2/hosts/"+puppetName+"/facts", "")
		b, _ := json.Marshal(v)
		return status == 200 && strings.Contains(string(b), marker)
	})
	s.core.waitLog("POST /api/v2/hosts/facts 201 ", 30*time.Second)
	if line := logLine(s.core.log(), "POST /api/v2/hosts/facts 201 "); !strings.HasSuffix(line, " "+puppetIP) {
		t.Fatalf("the core logged the facts from another address than the Puppet server's %s:\n%s", puppetIP, line)
	}

	// The ENC, live through both relays; the PFS relay keeps the answer.
	encURL := pfsLanURL + "/node/" + puppetName + "?format=yml"
	enc, err := do(puppet, "GET", encURL, "", "", nil)
	if err != nil || enc.status != 200 || !strings.Contains(enc.body, "foreman_fqdn: "+puppetName) {
		t.Fatalf("ENC through the relays: %v %d\n%s", err, enc.status, enc.body)
	}

	down := outage(t)
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	stamp := func(i int) string { return base.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05 UTC") }
	var stopped time.Time
	began := time.Now()
	for i := 0; i < reportCount; i++ {
		switch i {
		case 300:
			s.dmz.stop()
			stopped = time.Now()
		case 600:
			if n := len(s.storedReports()); n > 300 {
				t.Fatalf("the core has %d reports while the DMZ relay is down", n)
			}
			s.pfs.kill()
			puppet.CloseIdleConnections()
			s.pfs.start()
		case 450:
			// The core is out of reach: the ENC comes from the PFS relay's cache, marked.
			a, err := do(puppet, "GET", encURL, "", "", nil)
			if err != nil || a.status != 200 || a.body != enc.body || a.header.Get("X-Relay-Stale") != "true" {
				t.Fatalf("ENC while the DMZ relay is down: %v %d %v\n%s", err, a.status, a.header, a.body)
			}
		case 800:
			if d := down - time.Since(stopped); d > 0 {
				time.Sleep(d)
			}
			t.Logf("DMZ relay down for %v; starting it again", time.Since(stopped).Round(100*time.Millisecond))
			s.dmz.start()
		}
		post(fmt.Sprintf("report %d", i), "/api/config_reports", fmt.Sprintf(`{"config_report":{"host":%q,"reported_at":%q,`+
			`"status":{"applied":%d,"restarted":0,"failed":0,"failed_restarts":0,"skipped":0,"pending":0},`+
			`"metrics":{"resources":{"total":1},"time":{"total":0.1},"changes":{"total":0},"events":{"total":0}},"logs":[]}}`,
			puppetName, stamp(i), i%60))
	}
	posted := time.Since(began)
	var got []string
	waitFor(t, fmt.Sprintf("%d reports at the core", reportCount), 180*time.Second, func() bool {
		got = s.storedReports()
		return len(got) >= reportCount
	})
	t.Logf("%d reports posted in %v (DMZ relay down %v, PFS proxy killed once); all stored %v after the last",
		reportCount, posted.Round(100*time.Millisecond), down, (time.Since(began) - posted).Round(100*time.Millisecond))
	time.Sleep(time.Second) // a late repeat would show now
	if got = s.storedReports(); len(got) != reportCount {
		t.Fatalf("the core stored %d reports, want %d", len(got), reportCount)
	}
	for i, at := range got {
		if at != stamp(i) {
			t.Fatalf("report %d stored as %s, want %s: lost, repeated or out of order", i, at, stamp(i))
		}
	}
	// Every report the core stored came, by its log, from the Puppet server's address.
	stored := regexp.MustCompile(`(?m)POST /api/config_reports 201 \S+ (\S+)$`).FindAllStringSubmatch(s.core.log(), -1)
	if len(stored) < reportCount {
		t.Fatalf("the core logged %d stored reports, want at least %d", len(stored), reportCount)
	}
	for _, m := range stored {
		if m[1] != puppetIP {
			t.Fatalf("the core logged a report from %s, not from the Puppet server %s", m[1], puppetIP)
		}
	}
	// The PFS relay's log tells the outage and its end.
	for _, want := range []string{"Relay: delivering POST /api/config_reports to " + dmzFromPFS, "Relay: next hop " + dmzFromPFS, "Relay: queue drained:"} {
		if !strings.Contains(s.pfs.log(), want) {
			t.Errorf("the PFS proxy's log lacks %q", want)
		}
	}
}

// logLine is the first line of log holding s.
func logLine(log, s string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// storedReports lists reported_at of the Puppet server's reports at the core, in the
// order stored (by id).
func (s *site) storedReports() []string {
	s.t.Helper()
	status, v := s.api.call("GET", "/api/v2/config_reports?per_page=1000&search=host%3D"+puppetName, "")
	if status != 200 {
		s.t.Fatalf("config reports: %d %v", status, v)
	}
	type row struct {
		id int64
		at string
	}
	var rows []row
	list, _ := v["results"].([]any)
	for _, r := range list {
		m := r.(map[string]any)
		rows = append(rows, row{int64(m["id"].(float64)), m["reported_at"].(string)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.at
	}
	return out
}
