package etcdstate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// copyOf is a mirror's consumer: the key/value map the events build.
type copyOf struct {
	mu sync.Mutex
	kv map[string]string
}

func (c *copyOf) apply(events []etcdstate.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range events {
		if e.Deleted {
			delete(c.kv, e.Key)
		} else {
			c.kv[e.Key] = string(e.Value)
		}
	}
}

func (c *copyOf) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.kv[k]
	return v, ok
}

func (c *copyOf) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.kv)
}

func startMirror(t *testing.T, cli *etcdstate.Client, sub string) (*etcdstate.Mirror, *copyOf) {
	t.Helper()
	c := &copyOf{kv: map[string]string{}}
	m := cli.NewMirror(sub, c.apply)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m, c
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestBackend(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	ctx := context.Background()

	t.Run("a write through one node reaches another node's copy", func(t *testing.T) {
		a := cluster.Connect("/sp-watch/", cluster.Members[0])
		b := cluster.Connect("/sp-watch/", cluster.Members[1])
		if _, err := a.Claim(ctx, "dhcp/before", 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		m, copyB := startMirror(t, b, "dhcp/")
		if v, _ := copyB.get("dhcp/before"); v != "x" {
			t.Fatalf("initial load: got %q", v)
		}
		res, err := a.Claim(ctx, "dhcp/k1", 0, []byte("v1"))
		if err != nil || !res.Won {
			t.Fatalf("claim: %+v %v", res, err)
		}
		took := waitFor(t, 30*time.Second, "watch delivers the write", func() bool { v, _ := copyB.get("dhcp/k1"); return v == "v1" })
		t.Logf("write on member 0 seen in member 1's watched copy after %s", took)
		if _, err := a.Release(ctx, "dhcp/k1", res.Revision); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "watch delivers the delete", func() bool { _, ok := copyB.get("dhcp/k1"); return !ok })
		if _, err := a.Claim(ctx, "other/k", 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if st := m.Status(); st.Watch != etcdstate.WatchWatching || st.Revision < res.Revision {
			t.Fatalf("status %+v", st)
		}
		if _, ok := copyB.get("other/k"); ok {
			t.Fatal("a key outside the watched sub-prefix reached the copy")
		}
	})

	t.Run("of concurrent claims on one key exactly one wins", func(t *testing.T) {
		clients := []*etcdstate.Client{cluster.Connect("/sp-claim/", cluster.Members[0]), cluster.Connect("/sp-claim/", cluster.Members[2])}
		for round := 0; round < 20; round++ {
			key := fmt.Sprintf("addr/%d", round)
			var wg sync.WaitGroup
			results := make([]etcdstate.ClaimResult, 16)
			errs := make([]error, 16)
			for i := range results {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					results[i], errs[i] = clients[i%2].Claim(ctx, key, 0, []byte(fmt.Sprintf("node-%d", i)))
				}(i)
			}
			wg.Wait()
			winner := -1
			for i, r := range results {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if r.Won {
					if winner >= 0 {
						t.Fatalf("%s won by %d and %d", key, winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("%s: nobody won", key)
			}
			for i, r := range results {
				if !r.Won && (string(r.Value) != fmt.Sprintf("node-%d", winner) || r.Revision != results[winner].Revision) {
					t.Fatalf("loser %d sees %q@%d, winner wrote node-%d@%d", i, r.Value, r.Revision, winner, results[winner].Revision)
				}
			}
		}
	})

	t.Run("ClaimAll writes every change or none", func(t *testing.T) {
		cli := cluster.Connect("/sp-all/")
		first, err := cli.Claim(ctx, "a", 0, []byte("a0"))
		if err != nil || !first.Won {
			t.Fatal(first, err)
		}
		// "a" is not absent any more: the whole transaction fails, "b" stays unwritten.
		won, _, err := cli.ClaimAll(ctx, []etcdstate.Change{{Key: "a", ExpectRev: 0, Value: []byte("a1")}, {Key: "b", Value: []byte("b1")}})
		if err != nil || won {
			t.Fatalf("stale compare: won %v, %v", won, err)
		}
		if _, rev, _ := cli.Get(ctx, "b"); rev != 0 {
			t.Fatal("a failed ClaimAll wrote b")
		}
		won, rev, err := cli.ClaimAll(ctx, []etcdstate.Change{{Key: "a", ExpectRev: first.Revision}, {Key: "b", Value: []byte("b1")}})
		if err != nil || !won {
			t.Fatalf("fresh compares: won %v, %v", won, err)
		}
		if v, _, _ := cli.Get(ctx, "a"); v != nil {
			t.Fatalf("a change without a value deletes: a holds %q", v)
		}
		if v, brev, _ := cli.Get(ctx, "b"); string(v) != "b1" || brev != rev {
			t.Fatalf("b holds %q@%d, want b1@%d", v, brev, rev)
		}
		// AnyRevision writes a key whatever its revision, next to a compared one.
		won, rev, err = cli.ClaimAll(ctx, []etcdstate.Change{{Key: "b", ExpectRev: etcdstate.AnyRevision, Value: []byte("b2")}, {Key: "c", Value: []byte("c1")}})
		if err != nil || !won {
			t.Fatalf("AnyRevision: won %v, %v", won, err)
		}
		if v, brev, _ := cli.Get(ctx, "b"); string(v) != "b2" || brev != rev {
			t.Fatalf("b holds %q@%d, want b2@%d", v, brev, rev)
		}
		if won, _, err := cli.ClaimAll(ctx, []etcdstate.Change{{Key: "b", ExpectRev: etcdstate.AnyRevision, Value: []byte("b3")}, {Key: "c", Value: []byte("c2")}}); err != nil || won {
			t.Fatalf("AnyRevision next to a stale compare: won %v, %v", won, err)
		}
		if v, _, _ := cli.Get(ctx, "b"); string(v) != "b2" {
			t.Fatalf("a failed ClaimAll wrote b: %q", v)
		}
		if _, _, err := cli.ClaimAll(ctx, make([]etcdstate.Change, etcdstate.MaxChanges+1)); err == nil {
			t.Fatal("a transaction over MaxChanges was sent")
		}
	})

	t.Run("a node cut off while history is compacted resyncs by revision", func(t *testing.T) {
		writer := cluster.Connect("/sp-resync/", cluster.Members[1], cluster.Members[2])
		for i := 0; i < 10; i++ {
			if _, err := writer.Claim(ctx, fmt.Sprintf("k/%d", i), 0, []byte("old")); err != nil {
				t.Fatal(err)
			}
		}
		// This node talks to member 0 only: killing it cuts the node off.
		cutOff := cluster.Connect("/sp-resync/", cluster.Members[0])
		m, copyC := startMirror(t, cutOff, "k/")
		if copyC.len() != 10 {
			t.Fatalf("initial copy holds %d keys", copyC.len())
		}
		cluster.Members[0].Kill()
		for i := 0; i < 5; i++ {
			_, rev, _ := writer.Get(ctx, fmt.Sprintf("k/%d", i))
			if _, err := writer.Release(ctx, fmt.Sprintf("k/%d", i), rev); err != nil {
				t.Fatal(err)
			}
		}
		for i := 5; i < 60; i++ {
			_, rev, _ := writer.Get(ctx, fmt.Sprintf("k/%d", i))
			if _, err := writer.Claim(ctx, fmt.Sprintf("k/%d", i), rev, []byte("new")); err != nil {
				t.Fatal(err)
			}
		}
		rev, err := writer.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The history the cut-off node would resume from is gone.
		if _, err := writer.Raw().Compact(ctx, rev); err != nil {
			t.Fatal(err)
		}
		cluster.Members[0].Restart(t)
		took := waitFor(t, 30*time.Second, "the cut-off node converges", func() bool {
			if copyC.len() != 55 {
				return false
			}
			for i := 5; i < 60; i++ {
				if v, _ := copyC.get(fmt.Sprintf("k/%d", i)); v != "new" {
					return false
				}
			}
			return m.Revision() >= rev
		})
		t.Logf("converged %s after the member came back; status %+v", took, m.Status())
		if m.Status().Resyncs == 0 {
			t.Fatal("the node converged without a resync, so the compacted history was not exercised")
		}
		if _, ok := copyC.get("k/0"); ok {
			t.Fatal("a key deleted during the partition is still in the copy")
		}
		cluster.WaitHealthy(30 * time.Second)
	})

	t.Run("one member killed: no interruption; quorum lost: a clear error; back: nothing lost", func(t *testing.T) {
		cli := cluster.Connect("/sp-quorum/")
		// An election takes 1-3 s here and longer on a loaded machine; what is
		// checked is that the write waits for it instead of failing.
		patientCfg := cluster.Config("/sp-quorum/")
		patientCfg.Timeout = 30 * time.Second
		patient, err := etcdstate.Open(ctx, patientCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer patient.Close()
		watcher := cluster.Connect("/sp-quorum/")
		m, copyW := startMirror(t, watcher, "q/")
		cluster.Members[2].Kill()
		for i := 0; i < 20; i++ {
			if res, err := cli.Claim(ctx, fmt.Sprintf("q/one-down-%d", i), 0, []byte("v")); err != nil || !res.Won {
				t.Fatalf("with one member down, claim %d: %+v %v", i, res, err)
			}
		}
		// Its leader killed, the cluster elects another: writes stall, none fail.
		cluster.Members[2].Restart(t)
		cluster.WaitHealthy(30 * time.Second)
		leader := cluster.Leader()
		leader.Kill()
		stallStart := time.Now()
		if res, err := patient.Claim(ctx, "q/leader-gone", 0, []byte("v")); err != nil || !res.Won {
			t.Fatalf("claim after the leader was killed: %+v %v", res, err)
		}
		t.Logf("leader %s killed: the next claim succeeded after %s (the election)", leader.Name, time.Since(stallStart).Round(time.Millisecond))
		leader.Restart(t)
		cluster.WaitHealthy(30 * time.Second)
		cluster.Members[2].Kill()
		cluster.Members[1].Kill()
		start := time.Now()
		_, err = cli.Claim(ctx, "q/no-quorum", 0, []byte("v"))
		if !errors.Is(err, etcdstate.ErrUnavailable) || !strings.Contains(err.Error(), "quorum") {
			t.Fatalf("without quorum: %v", err)
		}
		t.Logf("without quorum a claim fails after %s: %v", time.Since(start).Round(time.Millisecond), err)
		waitFor(t, 30*time.Second, "the watch reports it lost the leader", func() bool {
			st := m.Status()
			return st.Watch == etcdstate.WatchResyncing && !st.Reachable
		})
		if copyW.len() != 21 {
			t.Fatalf("the local copy should keep serving its 21 keys, holds %d", copyW.len())
		}
		cluster.Members[1].Restart(t)
		cluster.Members[2].Restart(t)
		cluster.WaitHealthy(30 * time.Second)
		if _, err := cli.Claim(ctx, "q/after", 0, []byte("v")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the copy converges after quorum returns", func() bool { _, ok := copyW.get("q/after"); return ok })
		for i := 0; i < 20; i++ { // and q/leader-gone, checked by the copy's count above
			if _, rev, err := cli.Get(ctx, fmt.Sprintf("q/one-down-%d", i)); err != nil || rev == 0 {
				t.Fatalf("acknowledged write %d lost: rev %d %v", i, rev, err)
			}
		}
		t.Logf("status after quorum returned: %+v", m.Status())
	})
}

func TestOpenFailsClearly(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	cfg := cluster.Config("/sp/")
	cfg.CertFile, cfg.KeyFile = "", "" // the members demand a client certificate
	cfg.Timeout = time.Second
	_, err := etcdstate.Open(context.Background(), cfg)
	if !errors.Is(err, etcdstate.ErrUnavailable) {
		t.Fatalf("without a client certificate: %v", err)
	}
	t.Logf("without a client certificate: %v", err)
}

// Features reaching the cluster the same way (settings.yml's global backend)
// share one connection whatever their prefixes; it lives until the last closes.
func TestOpenSharesOneConnection(t *testing.T) {
	c := etcdtest.Start(t, 3)
	dhcp := c.Connect("/one/")
	dns := c.Connect("/two/")
	other := c.Connect("/one/", c.Members[0]) // other endpoints: its own connection
	defer other.Close()
	if dhcp.Raw() != dns.Raw() {
		t.Fatal("two clients with the same endpoints and TLS files have two connections")
	}
	if other.Raw() == dhcp.Raw() {
		t.Fatal("a client of other endpoints shares their connection")
	}
	if _, err := dns.Claim(context.Background(), "k", 0, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := dhcp.Get(context.Background(), "k"); err != nil || v != nil {
		t.Fatalf("the prefixes are not kept apart: /one/k = %q, %v", v, err)
	}
	dhcp.Close()
	dhcp.Close() // twice is harmless: it must not close the connection under dns
	if _, err := dns.Revision(context.Background()); err != nil {
		t.Fatalf("closing one client broke the other: %v", err)
	}
	raw := dns.Raw()
	dns.Close()
	again := c.Connect("/one/")
	defer again.Close()
	if again.Raw() == raw {
		t.Fatal("the last Close left the connection in the pool")
	}
}

// A key put on a lease leaves with it; a put on an expired lease is ErrLeaseGone
// at once, not a retry until the timeout.
func TestLeaseLifetime(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cli := c.Connect("/lease/")
	ctx := context.Background()
	lease, err := cli.GrantLease(ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rev, err := cli.PutOnLease(ctx, "k", []byte("v"), lease); err != nil || rev == 0 {
		t.Fatalf("put on lease: rev %d, %v", rev, err)
	}
	waitFor(t, 30*time.Second, "the key leaves with its lease", func() bool {
		_, rev, err := cli.Get(ctx, "k")
		return err == nil && rev == 0
	})
	start := time.Now()
	if _, err := cli.PutOnLease(ctx, "k", []byte("v"), lease); !errors.Is(err, etcdstate.ErrLeaseGone) {
		t.Fatalf("put on an expired lease: %v, want ErrLeaseGone", err)
	}
	t.Logf("expired lease refused in %s", time.Since(start))
}
