package puppet_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// postKeyed posts body with an Idempotency-Key, as a zone relay delivers.
func postKeyed(t *testing.T, client *http.Client, url, key string, body any) coretest.Answer {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(data)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return coretest.Read(t, resp)
}

// A relay that crashed after delivering sends the request again with the same key:
// the core answers as before and stores it once.
func TestIdempotencyKeyStoresRelayedRequestsOnce(t *testing.T) {
	c := newCore(t, storetest.SQLite(t))
	pc := c.client(t, &c.Puppet, "", "")
	noop := map[string]any{"resources": map[string]any{"total": 1}}
	rep := map[string]any{"config_report": report("web01.example.test", "2026-12-06 01:00:00 UTC", nil, noop)}
	count := func() int {
		return len(coretest.Do(t, c.User, "GET", c.URL+"/api/v2/config_reports?per_page=100", nil).Expect(t, 200).Results())
	}

	postKeyed(t, pc, c.URL+"/api/config_reports", "key-a", rep).Expect(t, 201)
	again := postKeyed(t, pc, c.URL+"/api/config_reports", "key-a", rep)
	again.ExpectMessage(t, 201, "Already stored (Idempotency-Key key-a)")
	postKeyed(t, pc, c.URL+"/api/v2/config_reports", "key-b", rep).Expect(t, 201)
	if n := count(); n != 2 {
		t.Fatalf("%d reports stored, want 2 (key-a once, key-b)", n)
	}

	// Repeats racing the first arrival: one is stored.
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- postKeyed(t, pc, c.URL+"/api/reports", "key-c", rep).Status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 201 {
			t.Fatalf("concurrent repeat answered %d", s)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("%d reports stored after 8 concurrent sends of one key, want 3", n)
	}

	// A refused request is not remembered: the corrected one with its key is stored.
	postKeyed(t, pc, c.URL+"/api/config_reports", "key-d", map[string]any{"config_report": map[string]any{"metrics": map[string]any{}}}).Expect(t, 422)
	postKeyed(t, pc, c.URL+"/api/config_reports", "key-d", rep).Expect(t, 201)
	// Without a key nothing changes: each request is stored.
	coretest.Do(t, pc, "POST", c.URL+"/api/config_reports", rep).Expect(t, 201)
	coretest.Do(t, pc, "POST", c.URL+"/api/config_reports", rep).Expect(t, 201)
	if n := count(); n != 6 {
		t.Fatalf("%d reports stored, want 6", n)
	}

	// Facts too.
	facts := map[string]any{"name": "web02.example.test", "certname": "web02.example.test", "facts": map[string]any{"os": "Debian"}}
	postKeyed(t, pc, c.URL+"/api/v2/hosts/facts", "key-f", facts).Expect(t, 201)
	postKeyed(t, pc, c.URL+"/api/hosts/facts", "key-f", facts).ExpectMessage(t, 201, "Already stored (Idempotency-Key key-f)")
}
