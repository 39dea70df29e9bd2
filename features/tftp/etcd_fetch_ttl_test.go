package tftp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// A fetch request and the nodes' statuses of it live for :etcd_fetch_ttl: and then
// leave etcd together; the files stay. A node restarted while the request lives
// does not download again what its status says it finished; one restarted after
// the request expired has nothing to run.
func TestFetchRequestsExpire(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	const ttl = 15 * time.Second
	extra := "\n:etcd_fetch_ttl: 15\n"
	a := startEtcdNodeWith(t, cluster, "a", newRoot(t), extra)
	rootB := newRoot(t)
	b := startEtcdNodeWith(t, cluster, "b", rootB, extra)
	cli := cluster.Connect("/tftpha/")
	requestKey := fetchRequestPrefix + "boot/boot/ttl-vmlinuz"
	item := "boot/boot/ttl-vmlinuz"

	// A request recorded before requests had a lifetime gets one.
	legacy := newMediaServer(t, "legacy bytes")
	legacyKey := fetchRequestPrefix + "boot/boot/legacy-vmlinuz"
	if _, err := cli.Raw().Put(context.Background(), "/tftpha/"+legacyKey, `{"url":"`+legacy.URL+`/media/vmlinuz"}`); err != nil {
		t.Fatal(err)
	}

	m := newMediaServer(t, "kernel bytes")
	posted := time.Now()
	expect(t, a.px.Do(t, "POST", "/tftp/fetch_boot_file", form("prefix", "boot/ttl", "path", m.URL+"/media/vmlinuz")), 200, "")
	_, rev, err := cli.Get(context.Background(), requestKey)
	if err != nil || rev == 0 {
		t.Fatalf("request not in etcd: rev %d, %v", rev, err)
	}
	waitFor(t, "both nodes report the boot file done", func() bool {
		st := fetchStatusesOf(t, a)
		return st["a"][item].State == "done" && st["b"][item].State == "done" && st["b"][item].Request == rev
	})
	if got := m.hits.Load(); got != 2 {
		t.Fatalf("media server asked %d times, want once per node", got)
	}
	waitFor(t, "the legacy request is put on a lease", func() bool {
		resp, err := cli.Raw().Get(context.Background(), "/tftpha/"+legacyKey)
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != 0
	})
	for _, n := range []etcdNode{a, b} {
		n.waitTFTP(t, "boot/legacy-vmlinuz", "legacy bytes")
	}

	// B restarts while the request lives: its status says done, the file is there.
	b.px.Registry.Stop(context.Background())
	b = startEtcdNodeWith(t, cluster, "b", rootB, extra)
	b.waitTFTP(t, "boot/ttl-vmlinuz", "kernel bytes")
	time.Sleep(time.Second) // a download it wrongly started would have asked by now
	switch got := m.hits.Load(); {
	case time.Since(posted) > ttl-2*time.Second:
		t.Logf("restarting B took past the %s lifetime on this machine: the no-redo check is not conclusive", ttl)
	case got != 2:
		t.Errorf("the restarted node downloaded again (%d requests to the media server)", got)
	}

	// The lifetime ends: request and statuses leave etcd, every node forgets them.
	deadline := posted.Add(ttl + 45*time.Second)
	for {
		_, rev, err := cli.Get(context.Background(), requestKey)
		_, legacyRev, lerr := cli.Get(context.Background(), legacyKey)
		if err == nil && rev == 0 && lerr == nil && legacyRev == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fetch request still in etcd %s after it was posted (lifetime %s)", time.Since(posted).Round(time.Second), ttl)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("request gone from etcd %s after it was posted (lifetime %s)", time.Since(posted).Round(time.Millisecond), ttl)
	waitFor(t, "the statuses leave /v2/features", func() bool {
		st := fetchStatusesOf(t, a)
		_, ina := st["a"][item]
		_, inb := st["b"][item]
		return !ina && !inb
	})
	for _, n := range []etcdNode{a, b} {
		if got := readFile(t, filepath.Join(n.root, "boot/ttl-vmlinuz")); got != "kernel bytes" {
			t.Errorf("the boot file left with the request: %q", got)
		}
	}

	// B restarted after that has nothing to run.
	b.px.Registry.Stop(context.Background())
	b = startEtcdNodeWith(t, cluster, "b", rootB, extra)
	time.Sleep(time.Second)
	if got := m.hits.Load(); got != 2 {
		t.Errorf("a node started after the request expired downloaded (%d requests)", got)
	}
}
