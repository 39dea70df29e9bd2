package puppet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// upload is one answer of a request sent from a goroutine (t.Fatal is not allowed there).
type upload struct {
	path   string
	status int
	body   map[string]any
	err    error
}

// postAll sends every body to its path at once with the Puppet server's certificate.
func postAll(c *core, client *http.Client, posts map[string][]any) []upload {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var out []upload
	for path, bodies := range posts {
		for _, b := range bodies {
			wg.Add(1)
			go func(path string, b any) {
				defer wg.Done()
				u := upload{path: path}
				data, _ := json.Marshal(b)
				resp, err := client.Post(c.URL+path, "application/json", bytes.NewReader(data))
				if err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					u.status = resp.StatusCode
					err = json.Unmarshal(raw, &u.body)
				}
				u.err = err
				mu.Lock()
				out = append(out, u)
				mu.Unlock()
			}(path, b)
		}
	}
	wg.Wait()
	return out
}

// hostsNamed counts stored hosts of that exact name.
func hostsNamed(t *testing.T, st *store.Store, name string) int {
	t.Helper()
	counts, _, err := st.ListHosts(context.Background(), store.ListOptions{Search: search.Condition{Field: "name", Op: "=", Value: name}})
	if err != nil {
		t.Fatal(err)
	}
	return counts.Subtotal
}

func uploads(name string, n int) map[string][]any {
	posts := map[string][]any{}
	for i := 0; i < n; i++ {
		posts["/api/v2/hosts/facts"] = append(posts["/api/v2/hosts/facts"],
			map[string]any{"name": name, "certname": name, "facts": map[string]any{"ipaddress": "192.0.2.99"}})
		posts["/api/config_reports"] = append(posts["/api/config_reports"],
			map[string]any{"config_report": report(name, "2026-12-06 06:00:00 UTC", nil, reportMetrics())})
	}
	return posts
}

func reportMetrics() map[string]any {
	return map[string]any{"resources": map[string]any{"total": 1}, "time": map[string]any{"total": 1.5}}
}

// An API create holds the name (core/orchestrate reserves it in the database before it
// asks any proxy) in another core on the same database while fact uploads and reports
// of that name arrive: none of them stores a host of its own; they wait, and when the
// create has saved its host and released the name, every one answers 201 with that host.
func TestUploadsWaitForANameAnAPICreateHolds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db, func(o *puppet.Options) { o.NameWait = 60 * time.Second })
		other, err := store.Open(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		const name = "race01.example.test"
		release, err := other.ReserveHostName(context.Background(), name, store.HostNameReservationStale)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan []upload)
		go func() { done <- postAll(c, c.client(t, &c.Puppet, "", ""), uploads(name, 4)) }()

		// While the name is held no upload may store a host (without the reservation they
		// are stored within milliseconds; a slow machine only makes this check weaker).
		time.Sleep(500 * time.Millisecond)
		if n := hostsNamed(t, c.Store, name); n != 0 {
			t.Fatalf("%d hosts stored while an API create held the name", n)
		}
		// The API create's save, then its release, as orchestrate.Create does them.
		api := store.Host{Name: name, MAC: "52:54:00:aa:00:01"}
		if err := other.CreateHost(context.Background(), &api); err != nil {
			t.Fatal(err)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		var answers []upload
		select {
		case answers = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("uploads still waiting 60 s after the name was released")
		}
		for _, u := range answers {
			if u.err != nil || u.status != 201 {
				t.Fatalf("%s: %d %v %v", u.path, u.status, u.body, u.err)
			}
			id := u.body["id"]
			if strings.Contains(u.path, "config_reports") {
				id = u.body["host_id"]
			}
			if id != float64(api.ID) {
				t.Fatalf("%s answered for host %v, want the API's %d: %v", u.path, id, api.ID, u.body)
			}
		}
		if n := hostsNamed(t, c.Store, name); n != 1 {
			t.Fatalf("%d hosts named %s, want 1", n, name)
		}
	})
}

// A name held past the wait (an orchestration on slow proxies): fact upload and report
// get Foreman's 422 {"message"} (the report processor retries it), nothing is stored;
// once the name is free the same upload creates the host.
func TestUploadsAnswer422WhileANameStaysHeld(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db, func(o *puppet.Options) { o.NameWait = 300 * time.Millisecond })
		const name = "slow01.example.test"
		release, err := c.Store.ReserveHostName(context.Background(), name, store.HostNameReservationStale)
		if err != nil {
			t.Fatal(err)
		}
		want := "Name has already been taken: host slow01.example.test is being created by another request, try again"
		for _, u := range postAll(c, c.client(t, &c.Puppet, "", ""), uploads(name, 2)) {
			if u.err != nil || u.status != 422 || u.body["message"] != want {
				t.Fatalf("%s: %d %v %v", u.path, u.status, u.body, u.err)
			}
		}
		if n := hostsNamed(t, c.Store, name); n != 0 {
			t.Fatalf("%d hosts stored for a held name", n)
		}
		if err := release(); err != nil {
			t.Fatal(err)
		}
		for _, u := range postAll(c, c.client(t, &c.Puppet, "", ""), uploads(name, 2)) {
			if u.err != nil || u.status != 201 {
				t.Fatalf("%s after release: %d %v %v", u.path, u.status, u.body, u.err)
			}
		}
		if n := hostsNamed(t, c.Store, name); n != 1 {
			t.Fatalf("%d hosts named %s, want 1", n, name)
		}
		// The uploads released the name: an API create of it now meets the stored host.
		if _, err := c.Store.ReserveHostName(context.Background(), name, store.HostNameReservationStale); err != nil {
			var taken *store.ConflictError
			if errors.As(err, &taken) {
				t.Fatal("the uploads left the name reserved")
			}
			t.Fatal(err)
		}
	})
}
