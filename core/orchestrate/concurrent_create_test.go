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

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/orchestrate"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// secondCore is another core on the same database, as a second foreman-core process
// would be: its own store handle (connection pool), orchestrator and API; it shares
// nothing with the first but the database and the proxies.
func secondCore(t *testing.T, e *env, db storetest.Database) string {
	t.Helper()
	st, authenticator, log := secondStore(t, db)
	orch := orchestrate.New(orchestrate.Options{Store: st, Proxies: e.client, Renderer: renderer{},
		Resolver: orchestrate.NewResolver([]string{e.main.DNSAddr}), Log: log})
	hs := httptest.NewServer(api.New(api.Options{Store: st, Auth: authenticator, Proxies: e.client, Orchestrator: orch, Log: log}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// secondStore is what another core process has of its own: a store handle (its
// connection pool) on the same database, an authenticator and a silent log.
func secondStore(t *testing.T, db storetest.Database) (*store.Store, *auth.Authenticator, *logrus.Logger) {
	t.Helper()
	st, err := store.Open(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := logrus.New()
	log.SetOutput(io.Discard)
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(auth.Config{Log: log}, dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	return st, authenticator, log
}

// Creates of one name sent at once, half to each of two cores on the same database,
// each with its own address and MAC: exactly one is created; every other is refused
// with Foreman's 422 "Name has already been taken" before it touches a proxy, so the
// proxies hold exactly the winner's A, PTR and reservation, nothing of the others.
func TestConcurrentCreatesOfOneNameMakeOneSetOfRecords(t *testing.T) {
	requirePeers(t)
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		e := newEnv(t, db)
		cores := []string{e.coreURL, secondCore(t, e, db)}
		const clients = 8
		type result struct {
			status   int
			body     string
			ip, mac  string
			messages []any
		}
		results := make([]result, clients)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ip, mac := fmt.Sprintf("192.0.2.%d", 20+i), fmt.Sprintf("52:54:00:00:01:%02x", i)
				data, _ := json.Marshal(e.hostBody(name, ip, mac, false))
				req, _ := http.NewRequest(http.MethodPost, cores[i%2]+"/api/v2/hosts", bytes.NewReader(data))
				req.SetBasicAuth("admin", adminPassword)
				req.Header.Set("Content-Type", "application/json")
				<-start
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("create %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				var answer struct {
					Error struct {
						FullMessages []any `json:"full_messages"`
					} `json:"error"`
				}
				json.Unmarshal(body, &answer)
				results[i] = result{resp.StatusCode, string(body), ip, mac, answer.Error.FullMessages}
			}(i)
		}
		close(start)
		wg.Wait()

		var winner *result
		for i := range results {
			r := &results[i]
			switch {
			case r.status == http.StatusCreated && winner == nil:
				winner = r
			case r.status == http.StatusUnprocessableEntity && len(r.messages) == 1 && r.messages[0] == "Name has already been taken":
			default:
				t.Errorf("create %d: %d %s; want one 201 and 422 Name has already been taken for the others", i, r.status, r.body)
			}
		}
		if winner == nil {
			t.Fatal("no create succeeded")
		}
		if got := dig(t, e.main.DNSAddr, name, "A"); got != winner.ip {
			t.Errorf("A records %q, want only the winner's %s", got, winner.ip)
		}
		for _, r := range results {
			want := ""
			if r.ip == winner.ip {
				want = name + "."
			}
			if got := dig(t, e.main.DNSAddr, reverse(r.ip), "PTR"); got != want {
				t.Errorf("PTR of %s = %q, want %q", r.ip, got, want)
			}
		}
		body, err := e.proxyGet(e.main, "/dhcp/192.0.2.0")
		must(t, err)
		if n := strings.Count(body, `"mac":`); n != 1 || !strings.Contains(body, `"mac":"`+winner.mac+`"`) {
			t.Errorf("reservations %s, want only the winner's %s", body, winner.mac)
		}
		// The losers wrote no task list over the winner's.
		if got := e.tasks(name); strings.Contains(got, "=rollbacked") || strings.Contains(got, "=canceled") || !strings.Contains(got, "=completed") {
			t.Errorf("task list of %s:\n%s", name, got)
		}
		// The reservation is released: once the host is gone, the name is free again.
		e.call(http.MethodDelete, "/api/v2/hosts/"+name, nil).expect(t, http.StatusOK)
		e.call(http.MethodPost, "/api/v2/hosts", e.hostBody(name, ip, mac, false)).expect(t, http.StatusCreated)
	})
}
