package orchestrate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// puppetCore is a second core on the same database serving core/puppet's fact upload.
func puppetCore(t *testing.T, db storetest.Database) string {
	t.Helper()
	st, authenticator, log := secondStore(t, db)
	app := api.New(api.Options{Store: st, Auth: authenticator, Log: log})
	puppet.Mount(app, puppet.Options{Store: st, Auth: authenticator, Log: log, CreateHostsFromFacts: true})
	hs := httptest.NewServer(app)
	t.Cleanup(hs.Close)
	return hs.URL
}

// API creates of a name (with real DNS and DHCP on the proxy) and fact uploads of the
// same name to another core, sent at once or the uploads a little later (so that they
// tend to meet a create talking to the proxies; either order is checked): one host is stored, every upload
// answers 201 with it, and no create reaches the proxies only to fail at its save:
// either a create wins (its records are on the proxy, its task list is all completed,
// the other creates are 422 Name has already been taken) or an upload does (every
// create is that 422, the proxy holds nothing of the name, no task list was written).
func TestAPICreatesAndFactUploadsOfOneName(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		factsURL := puppetCore(t, db)
		for round, delay := range []time.Duration{0, 10 * time.Millisecond, 30 * time.Millisecond} {
			raceCreateAndFacts(t, e, factsURL, round, delay)
		}
	})
}

func raceCreateAndFacts(t *testing.T, e *env, factsURL string, round int, delay time.Duration) {
	name := fmt.Sprintf("raced%d.example.test", round)
	const creates, facts = 3, 3
	type result struct {
		create       bool
		status       int
		body, ip     string
		json         map[string]any
		fullMessages []any
	}
	results := make([]result, creates+facts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := result{create: i < creates}
			var url string
			var body any
			if r.create {
				r.ip = fmt.Sprintf("192.0.2.%d", 40+10*round+i)
				url, body = e.coreURL+"/api/v2/hosts", e.hostBody(name, r.ip, fmt.Sprintf("52:54:00:00:%02x:%02x", 2+round, i), false)
			} else {
				url, body = factsURL+"/api/v2/hosts/facts", map[string]any{"name": name, "certname": name, "facts": map[string]any{"upload": i}}
			}
			data, _ := json.Marshal(body)
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
			req.SetBasicAuth("admin", adminPassword)
			req.Header.Set("Content-Type", "application/json")
			<-start
			if !r.create {
				time.Sleep(delay)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			r.status, r.body = resp.StatusCode, string(raw)
			json.Unmarshal(raw, &r.json)
			if e, ok := r.json["error"].(map[string]any); ok {
				r.fullMessages, _ = e["full_messages"].([]any)
			}
			results[i] = r
		}(i)
	}
	close(start)
	wg.Wait()

	counts, hosts, err := e.store.ListHosts(context.Background(), store.ListOptions{Search: search.Condition{Field: "name", Op: "=", Value: name}})
	if err != nil || counts.Subtotal != 1 {
		t.Fatalf("%d hosts named %s (%v), want 1", counts.Subtotal, name, err)
	}
	stored := hosts[0]
	var winner *result
	for i := range results {
		r := &results[i]
		switch {
		case !r.create && r.status == http.StatusCreated && r.json["id"] == float64(stored.ID):
		case r.create && r.status == http.StatusCreated && winner == nil && r.json["id"] == float64(stored.ID):
			winner = r
		case r.create && r.status == http.StatusUnprocessableEntity && len(r.fullMessages) == 1 && r.fullMessages[0] == "Name has already been taken":
		default:
			t.Errorf("request %d (create %v): %d %s", i, r.create, r.status, r.body)
		}
	}
	tasks := e.call(http.MethodGet, "/api/v2/hosts/"+name+"/tasks", nil)
	if winner == nil {
		t.Logf("uploads %v after the creates: a fact upload won", delay)
		if got := dig(t, e.main.DNSAddr, name, "A"); got != "" {
			t.Errorf("A records %q of a host no create made", got)
		}
		if tasks.Status != http.StatusNotFound {
			t.Errorf("task list %d %s: a create reached the proxies", tasks.Status, tasks.Body)
		}
		return
	}
	t.Logf("uploads %v after the creates: an API create won", delay)
	if got := dig(t, e.main.DNSAddr, name, "A"); got != winner.ip {
		t.Errorf("A records %q, want the winner's %s", got, winner.ip)
	}
	if tasks.Status != http.StatusOK || strings.Contains(tasks.Body, "rollbacked") || strings.Contains(tasks.Body, "canceled") {
		t.Errorf("task list %d %s", tasks.Status, tasks.Body)
	}
}
