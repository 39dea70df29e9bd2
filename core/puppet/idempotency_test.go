package puppet_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// postKeyed posts body with an Idempotency-Key, as a zone relay delivers; replayed
// says the core answered it as a repeat.
func postKeyed(t *testing.T, client *http.Client, url, key string, body any) (a coretest.Answer, replayed bool) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(data)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	replayed = resp.Header.Get(puppet.ReplayedHeader) == "true"
	return coretest.Read(t, resp), replayed
}

func countReports(t *testing.T, c *core) int {
	t.Helper()
	return len(coretest.Do(t, c.User, "GET", c.URL+"/api/v2/config_reports?per_page=1000", nil).Expect(t, 200).Results())
}

var noop = map[string]any{"resources": map[string]any{"total": 1}}

// A relay that crashed after delivering sends the request again with the same key:
// the core gives the first answer (status and body) and stores it once.
func TestIdempotencyKeyStoresRelayedRequestsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		pc := c.client(t, &c.Puppet, "", "")
		rep := map[string]any{"config_report": report("web01.example.test", "2026-12-06 01:00:00 UTC", nil, noop)}

		first, replayed := postKeyed(t, pc, c.URL+"/api/config_reports", "key-a", rep)
		first.Expect(t, 201)
		if replayed {
			t.Fatal("first arrival marked as a repeat")
		}
		again, replayed := postKeyed(t, pc, c.URL+"/api/config_reports", "key-a", rep)
		if again.Status != 201 || again.Body != first.Body || !replayed {
			t.Fatalf("repeat answered %d %s (replayed %v), want the first answer %s", again.Status, again.Body, replayed, first.Body)
		}
		postKeyed(t, pc, c.URL+"/api/v2/config_reports", "key-b", rep)
		if n := countReports(t, c); n != 2 {
			t.Fatalf("%d reports stored, want 2 (key-a once, key-b)", n)
		}

		// Repeats racing the first arrival: one is stored, all get its answer.
		var wg sync.WaitGroup
		bodies := make(chan coretest.Answer, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, _ := postKeyed(t, pc, c.URL+"/api/reports", "key-c", rep)
				bodies <- a
			}()
		}
		wg.Wait()
		close(bodies)
		var seen string
		for a := range bodies {
			if a.Status != 201 || (seen != "" && a.Body != seen) {
				t.Fatalf("concurrent repeat answered %d %s, others %s", a.Status, a.Body, seen)
			}
			seen = a.Body
		}
		if n := countReports(t, c); n != 3 {
			t.Fatalf("%d reports stored after 8 concurrent sends of one key, want 3", n)
		}

		// A refused request is not remembered: the corrected one with its key is stored.
		bad := map[string]any{"config_report": map[string]any{"metrics": map[string]any{}}}
		a, _ := postKeyed(t, pc, c.URL+"/api/config_reports", "key-d", bad)
		a.Expect(t, 422)
		a, _ = postKeyed(t, pc, c.URL+"/api/config_reports", "key-d", rep)
		a.Expect(t, 201)
		// Without a key (or with one too long to be a relay's) each request is stored.
		coretest.Do(t, pc, "POST", c.URL+"/api/config_reports", rep).Expect(t, 201)
		coretest.Do(t, pc, "POST", c.URL+"/api/config_reports", rep).Expect(t, 201)
		long := strings.Repeat("k", 129)
		postKeyed(t, pc, c.URL+"/api/config_reports", long, rep)
		if _, replayed := postKeyed(t, pc, c.URL+"/api/config_reports", long, rep); replayed {
			t.Fatal("a 129-character key was honoured")
		}
		if n := countReports(t, c); n != 8 {
			t.Fatalf("%d reports stored, want 8", n)
		}

		// Facts too: the repeat does not replace facts uploaded since.
		facts := func(os string) map[string]any {
			return map[string]any{"name": "web02.example.test", "certname": "web02.example.test", "facts": map[string]any{"os": os}}
		}
		first, _ = postKeyed(t, pc, c.URL+"/api/v2/hosts/facts", "key-f", facts("Debian"))
		first.Expect(t, 201)
		coretest.Do(t, pc, "POST", c.URL+"/api/v2/hosts/facts", facts("Alpine")).Expect(t, 201)
		again, replayed = postKeyed(t, pc, c.URL+"/api/hosts/facts", "key-f", facts("Debian"))
		if again.Body != first.Body || !replayed {
			t.Fatalf("facts repeat answered %s (replayed %v), want %s", again.Body, replayed, first.Body)
		}
		stored := coretest.Do(t, c.User, "GET", c.URL+"/api/v2/hosts/web02.example.test/facts", nil).Expect(t, 200)
		if !strings.Contains(stored.Body, `"Alpine"`) {
			t.Fatalf("the repeat replaced newer facts: %s", stored.Body)
		}
	})
}

// The key is in the database: a core started again on it (a restart) answers a repeat
// with the first answer and stores nothing; two cores on one database racing with one
// key (two processes behind a relay's retries) store it once.
func TestIdempotencyKeySurvivesRestartAndIsSharedByCores(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		rep := map[string]any{"config_report": report("web01.example.test", "2026-12-06 01:00:00 UTC", nil, noop)}
		before := newCore(t, db)
		first, _ := postKeyed(t, before.client(t, &before.Puppet, "", ""), before.URL+"/api/config_reports", "key-r", rep)
		first.Expect(t, 201)
		before.Store.Close() // the first core is gone

		after := newCore(t, db)
		pc := after.client(t, &after.Puppet, "", "")
		again, replayed := postKeyed(t, pc, after.URL+"/api/config_reports", "key-r", rep)
		if again.Status != 201 || again.Body != first.Body || !replayed {
			t.Fatalf("repeat after restart answered %d %s (replayed %v), want %s", again.Status, again.Body, replayed, first.Body)
		}
		if n := countReports(t, after); n != 1 {
			t.Fatalf("%d reports after the repeat, want 1", n)
		}

		other := newCore(t, db)
		opc := other.client(t, &other.Puppet, "", "")
		for round := 0; round < 5; round++ {
			key := "key-shared-" + string(rune('a'+round))
			var wg sync.WaitGroup
			answers := make(chan coretest.Answer, 8)
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client, url := pc, after.URL
					if i%2 == 1 {
						client, url = opc, other.URL
					}
					a, _ := postKeyed(t, client, url+"/api/config_reports", key, rep)
					answers <- a
				}()
			}
			wg.Wait()
			close(answers)
			var seen string
			for a := range answers {
				if a.Status != 201 || (seen != "" && a.Body != seen) {
					t.Fatalf("racing repeat on two cores answered %d %s, others %s", a.Status, a.Body, seen)
				}
				seen = a.Body
			}
		}
		if n := countReports(t, other); n != 6 {
			t.Fatalf("%d reports after 5 keys each sent 8 times to two cores, want 6", n)
		}
	})
}
