package dns

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// bigZone is how many records the large-zone tests write: more than the old one
// key per zone could hold (etcd refuses requests over 1.5 MiB).
const bigZone = 20_480

// bigName and bigAddr are record i of the large zone.
func bigName(i int) string { return fmt.Sprintf("big%d.example.test.", i) }
func bigAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d", 100+i/65536, i/256%256, i%256) }

// startEtcdPeer starts a dns_embedded proxy on the cluster under prefix.
func startEtcdPeer(t *testing.T, c *etcdtest.Cluster, prefix, key string) peer {
	t.Helper()
	port := bindtest.FreePort(t)
	px := proxytest.Start(t, "", etcdFiles(port, c, prefix, key), New())
	if s, err := px.Registry.StateOf("dns"); s != "running" {
		t.Fatalf("dns is %s: %v", s, err)
	}
	return peer{proxy: px, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port)}
}

// missingBig asks port for every record of the large zone (4 clients, in-process:
// 20,000 dig processes would take minutes) and returns the names not answered
// with their address.
func missingBig(t *testing.T, addr string, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var missing []string
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				r, err := bindtest.Query(addr, bigName(i), dns.TypeA)
				ok := err == nil && len(r.Answer) == 1
				if ok {
					a, isA := r.Answer[0].(*dns.A)
					ok = isA && a.A.String() == bigAddr(i)
				}
				if !ok {
					mu.Lock()
					missing = append(missing, bigName(i))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return missing
}

// soaSerial is the zone's serial as dig prints it.
func soaSerial(t *testing.T, port int) uint32 {
	t.Helper()
	f := strings.Fields(bindtest.Dig(t, port, "example.test", "SOA"))
	if len(f) < 3 {
		t.Fatalf("dig SOA on %d printed %q", port, f)
	}
	n, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

// A zone far past what one etcd key holds, written through node A by nsupdate
// (100 names per update), is answered by node B in full; each name is its own
// small key; the serial agrees on both nodes and grows with every change.
func TestEmbeddedOnEtcdLargeZone(t *testing.T) {
	bindtest.Need(t, "dig", "nsupdate")
	cluster := etcdtest.Start(t, 3)
	key := testKeyFile(t)
	a := startEtcdPeer(t, cluster, "/dnsbig/", key)
	b := startEtcdPeer(t, cluster, "/dnsbig/", key)

	var script strings.Builder
	fmt.Fprintf(&script, "server 127.0.0.1 %d\nzone example.test\n", a.port)
	for i := 0; i < bigZone; i++ {
		fmt.Fprintf(&script, "update add %s 300 A %s\n", bigName(i), bigAddr(i))
		if i%100 == 99 || i == bigZone-1 {
			script.WriteString("send\n")
		}
	}
	start := time.Now()
	if out, err := bindtest.Nsupdate(t, key, script.String()); err != nil {
		t.Fatalf("nsupdate -k via A: %v\n%s", err, out)
	}
	wrote := time.Since(start)
	last := bigZone - 1
	caughtUp := waitDig(t, b.port, 60*time.Second, bigAddr(last), bigName(last), "A")
	t.Logf("%d records written through node A by nsupdate in %s (%.0f records/s); node B answered the last one %s after",
		bigZone, wrote.Round(time.Millisecond), float64(bigZone)/wrote.Seconds(), caughtUp.Round(time.Millisecond))
	if missing := missingBig(t, b.addr, bigZone); len(missing) > 0 {
		t.Fatalf("node B lacks %d of %d records, e.g. %v", len(missing), bigZone, missing[:min(5, len(missing))])
	}

	// A node joining reads the whole zone in one request.
	joined := time.Now()
	c := startEtcdPeer(t, cluster, "/dnsbig/", key)
	t.Logf("a third node started on the %d-record zone in %s", bigZone, time.Since(joined).Round(time.Millisecond))
	if missing := missingBig(t, c.addr, bigZone); len(missing) > 0 {
		t.Fatalf("node C lacks %d of %d records, e.g. %v", len(missing), bigZone, missing[:min(5, len(missing))])
	}

	// One key per name, each small; the old shape's key is not written.
	raw := cluster.Connect("/dnsbig/").Raw()
	ctx := context.Background()
	resp, err := raw.Get(ctx, "/dnsbig/dns/names/example.test./", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for _, kv := range resp.Kvs {
		largest = max(largest, len(kv.Value))
	}
	if len(resp.Kvs) != bigZone || largest > 200 {
		t.Fatalf("etcd holds %d name keys (largest %d bytes), want %d small ones", len(resp.Kvs), largest, bigZone)
	}
	if old, err := raw.Get(ctx, "/dnsbig/dns/zones/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || old.Count != 0 {
		t.Fatalf("old-shape zone keys: %v %v", old, err)
	}

	// A record POSTed to A is answered by B: the bound, measured with dig.
	before := soaSerial(t, a.port)
	var worst time.Duration
	for i := 1; i <= 10; i++ {
		name := fmt.Sprintf("late%d.example.test", i)
		a.expect(t, "POST", "/dns/", map[string]string{"fqdn": name, "value": fmt.Sprintf("10.99.7.%d", i), "type": "A"}, 200, "")
		worst = max(worst, waitDig(t, b.port, 30*time.Second, fmt.Sprintf("10.99.7.%d", i), name, "A"))
	}
	// The same without dig's process start: polled from here.
	var worstQuery time.Duration
	for i := 11; i <= 20; i++ {
		name := fmt.Sprintf("late%d.example.test.", i)
		a.expect(t, "POST", "/dns/", map[string]string{"fqdn": name, "value": fmt.Sprintf("10.99.7.%d", i), "type": "A"}, 200, "")
		start := time.Now()
		for {
			r, err := bindtest.Query(b.addr, name, dns.TypeA)
			if err == nil && len(r.Answer) == 1 {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node B does not answer %s 30 s after node A acknowledged it", name)
			}
			time.Sleep(time.Millisecond)
		}
		worstQuery = max(worstQuery, time.Since(start))
	}
	t.Logf("in a zone of %d records, a record POSTed to node A is answered by node B within %s (worst of 10 polled in-process; %s with dig, its start included)",
		bigZone+20, worstQuery.Round(100*time.Microsecond), worst.Round(time.Millisecond))

	// Serial: the same on both nodes, grown by the change; a delete through B grows it again.
	waitSerials := func(what string, after uint32) uint32 {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			sa, sb := soaSerial(t, a.port), soaSerial(t, b.port)
			if sa == sb && sa > after {
				return sa
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: SOA serial A %d, B %d, want equal and above %d", what, sa, sb, after)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mid := waitSerials("after 20 creates through A", before)
	b.expect(t, "DELETE", "/dns/late1.example.test/A", nil, 200, "")
	waitDig(t, a.port, 30*time.Second, "", "late1.example.test", "A")
	end := waitSerials("after a delete through B", mid)
	t.Logf("SOA serial on both nodes: %d before, %d after 20 creates, %d after a delete", before, mid, end)

	// One update may change at most 127 names (one transaction); more is SERVFAIL
	// and changes nothing.
	var many strings.Builder
	fmt.Fprintf(&many, "server 127.0.0.1 %d\nzone example.test\n", a.port)
	for i := 0; i < 128; i++ {
		fmt.Fprintf(&many, "update add many%d.example.test. 300 A 10.99.10.%d\n", i, i)
	}
	many.WriteString("send\n")
	if out, err := bindtest.Nsupdate(t, key, many.String()); err == nil || !strings.Contains(out, "SERVFAIL") {
		t.Fatalf("an update of 128 names: %v %q, want SERVFAIL", err, out)
	}
	if got := bindtest.Dig(t, a.port, "many0.example.test", "A"); got != "" {
		t.Fatalf("a refused update of 128 names is served in part: %q", got)
	}
	if s := soaSerial(t, a.port); s != end {
		t.Fatalf("a refused update changed the serial from %d to %d", end, s)
	}
}

// Two nodes changing the same name at once end consistent: of two conflicting
// creates exactly one wins (409 for the other) and both nodes serve the winner;
// adds without prerequisites from both nodes both land.
func TestEmbeddedOnEtcdSameNameRace(t *testing.T) {
	bindtest.Need(t, "dig", "nsupdate")
	cluster := etcdtest.Start(t, 3)
	key := testKeyFile(t)
	nodes := []peer{startEtcdPeer(t, cluster, "/dnsrace/", key), startEtcdPeer(t, cluster, "/dnsrace/", key)}

	const rounds = 20
	for round := 0; round < rounds; round++ {
		name := fmt.Sprintf("same%d.example.test", round)
		status := make([]int, 2)
		var wg sync.WaitGroup
		for n, p := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got := p.proxy.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {name}, "value": {fmt.Sprintf("10.99.8.%d", n+1)}, "type": {"A"}})
				status[n] = got.Status
			}()
		}
		wg.Wait()
		winner := -1
		switch {
		case status[0] == 200 && status[1] == 409:
			winner = 0
		case status[0] == 409 && status[1] == 200:
			winner = 1
		default:
			t.Fatalf("round %d: POSTs of %s through A and B answered %v, want one 200 and one 409", round, name, status)
		}
		want := fmt.Sprintf("10.99.8.%d", winner+1)
		for _, p := range nodes {
			waitDig(t, p.port, 30*time.Second, want, name, "A")
		}
	}

	// Adds to one name from both nodes at once (no prerequisites): both kept.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for n, p := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var script strings.Builder
			fmt.Fprintf(&script, "server 127.0.0.1 %d\nzone example.test\n", p.port)
			for i := 0; i < 10; i++ {
				fmt.Fprintf(&script, "update add multi.example.test. 300 A 10.99.9.%d\nsend\n", n*10+i+1)
			}
			if out, err := bindtest.Nsupdate(t, key, script.String()); err != nil {
				errs[n] = fmt.Errorf("nsupdate via node %d: %v\n%s", n, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for i := 1; i <= 20; i++ {
		all = append(all, fmt.Sprintf("10.99.9.%d", i))
	}
	want := sortedLines(all)
	for _, p := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := sortedLines(strings.Split(bindtest.Dig(t, p.port, "multi.example.test", "A"), "\n"))
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node on %d answers multi.example.test with\n%s\nwant\n%s", p.port, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if sa, sb := soaSerial(t, nodes[0].port), soaSerial(t, nodes[1].port); sa != sb {
		t.Fatalf("SOA serial A %d, B %d", sa, sb)
	}
}

func sortedLines(lines []string) string {
	out := slices.Clone(lines)
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// A cluster written by the earlier one-key-per-zone version is migrated at start,
// by two nodes starting at once: every record served by both, the old key gone,
// one key per name, the serial above the old key's revision and the same on both.
func TestEmbeddedOnEtcdMigratesOneKeyZones(t *testing.T) {
	bindtest.Need(t, "dig")
	cluster := etcdtest.Start(t, 3)
	key := testKeyFile(t)
	cli := cluster.Connect("/dnsold/")
	const n = 5000 // 40 transactions of 128 keys: more than one
	records := make([]string, 0, n)
	for i := 0; i < n; i++ {
		records = append(records, fmt.Sprintf("%s\t300\tIN\tA\t%s", bigName(i), bigAddr(i)))
	}
	value, _ := json.Marshal(map[string][]string{"records": records})
	res, err := cli.Claim(context.Background(), "dns/zones/example.test.", 0, value)
	if err != nil || !res.Won {
		t.Fatalf("writing the old shape: %+v %v", res, err)
	}
	reverse, _ := json.Marshal(map[string][]string{"records": {"1.2.99.10.in-addr.arpa.\t300\tIN\tPTR\tbig1.example.test."}})
	if res, err := cli.Claim(context.Background(), "dns/zones/99.10.in-addr.arpa.", 0, reverse); err != nil || !res.Won {
		t.Fatalf("writing the old shape: %+v %v", res, err)
	}
	oldRev := res.Revision

	nodes := make([]peer, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		port := bindtest.FreePort(t)
		go func() { // at once: both migrate
			defer wg.Done()
			px := proxytest.Start(t, "", etcdFiles(port, cluster, "/dnsold/", key), New())
			nodes[i] = peer{proxy: px, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port)}
		}()
	}
	wg.Wait()
	raw := cli.Raw()
	deadline := time.Now().Add(60 * time.Second)
	for {
		old, err := raw.Get(context.Background(), "/dnsold/dns/zones/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && old.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old-shape keys still there after 60 s: %v %v", old, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	names, err := raw.Get(context.Background(), "/dnsold/dns/names/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || names.Count != n+1 {
		t.Fatalf("after migration etcd holds %v name keys (%v), want %d", names, err, n+1)
	}
	for _, p := range nodes {
		if missing := missingBig(t, p.addr, n); len(missing) > 0 {
			t.Fatalf("node on %d lacks %d migrated records, e.g. %v", p.port, len(missing), missing[:min(5, len(missing))])
		}
		if got := bindtest.Dig(t, p.port, "-x", "10.99.2.1"); got != "big1.example.test." {
			t.Fatalf("dig -x on %d = %q", p.port, got)
		}
	}
	var serials []uint32
	for _, p := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := soaSerial(t, p.port)
			if s > uint32(oldRev) || time.Now().After(deadline) {
				serials = append(serials, s)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if serials[0] != serials[1] || serials[0] <= uint32(oldRev) {
		t.Fatalf("after migration SOA serials %v, want equal and above the old key's revision %d", serials, oldRev)
	}
	// Writes work after the migration and reach the other node.
	nodes[0].expect(t, "POST", "/dns/", map[string]string{"fqdn": "after.example.test", "value": "10.99.6.6", "type": "A"}, 200, "")
	waitDig(t, nodes[1].port, 30*time.Second, "10.99.6.6", "after.example.test", "A")
	nodes[1].expect(t, "DELETE", "/dns/big7.example.test/A", nil, 200, "")
	waitDig(t, nodes[0].port, 30*time.Second, "", "big7.example.test", "A")
	t.Logf("%d records in the old shape migrated by two nodes started at once; serial %d (old key at revision %d)", n+1, serials[0], oldRev)

	// A node not yet upgraded writes the old key again: its records win, and the
	// nodes migrate them again (names it lacks deleted).
	again, _ := json.Marshal(map[string][]string{"records": {"again.example.test.\t300\tIN\tA\t10.99.6.7", records[3]}})
	if res, err := cli.Claim(context.Background(), "dns/zones/example.test.", 0, again); err != nil || !res.Won {
		t.Fatalf("writing the old shape again: %+v %v", res, err)
	}
	for _, p := range nodes {
		waitDig(t, p.port, 30*time.Second, "10.99.6.7", "again.example.test", "A")
		waitDig(t, p.port, 30*time.Second, "", "big5.example.test", "A")
		waitDig(t, p.port, 30*time.Second, bigAddr(3), "big3.example.test", "A")
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		old, err := raw.Get(context.Background(), "/dnsold/dns/zones/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		names, nerr := raw.Get(context.Background(), "/dnsold/dns/names/example.test./", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && nerr == nil && old.Count == 0 && names.Count == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second migration: old keys %v, name keys %v (want 0 and 2): %v %v", old, names, err, nerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	nodes[1].expect(t, "POST", "/dns/", map[string]string{"fqdn": "final.example.test", "value": "10.99.6.8", "type": "A"}, 200, "")
	waitDig(t, nodes[0].port, 30*time.Second, "10.99.6.8", "final.example.test", "A")
	if sa, sb := soaSerial(t, nodes[0].port), soaSerial(t, nodes[1].port); sa != sb || sa <= serials[0] {
		t.Fatalf("after the second migration SOA serials %d and %d, want equal and above %d", sa, sb, serials[0])
	}
}

// A node keeping its copy in :state_dir: and restarted after names were deleted
// and added through another node serves exactly etcd's records once connected
// (the copy's deleted names dropped); a copy in the earlier one-key-per-zone
// format is served while the cluster is down and replaced once it answers.
func TestEmbeddedOnEtcdSavedCopy(t *testing.T) {
	bindtest.Need(t, "dig")
	cluster := etcdtest.Start(t, 3)
	key := testKeyFile(t)
	a := startEtcdPeer(t, cluster, "/dnscopy/", key)
	portC, dirC := bindtest.FreePort(t), t.TempDir()
	filesC := etcdFilesKeeping(portC, cluster, "/dnscopy/", key, dirC)
	pxC := proxytest.Start(t, "", filesC, New())
	for name, addr := range map[string]string{"keep1": "10.99.4.1", "gone1": "10.99.4.2"} {
		a.expect(t, "POST", "/dns/", map[string]string{"fqdn": name + ".example.test", "value": addr, "type": "A"}, 200, "")
		waitDig(t, portC, 30*time.Second, addr, name+".example.test", "A")
	}
	pxC.Registry.Stop(context.Background())

	a.expect(t, "DELETE", "/dns/gone1.example.test/A", nil, 200, "")
	a.expect(t, "POST", "/dns/", map[string]string{"fqdn": "new1.example.test", "value": "10.99.4.3", "type": "A"}, 200, "")
	pxC = proxytest.Start(t, "", filesC, New())
	if got := bindtest.Dig(t, portC, "gone1.example.test", "A"); got != "" {
		t.Errorf("restarted node serves a name deleted while it was down: %q", got)
	}
	for name, addr := range map[string]string{"keep1": "10.99.4.1", "new1": "10.99.4.3"} {
		if got := bindtest.Dig(t, portC, name+".example.test", "A"); got != addr {
			t.Errorf("restarted node answers %s with %q, want %s", name, got, addr)
		}
	}
	if sa, sc := soaSerial(t, a.port), soaSerial(t, portC); sa != sc {
		t.Errorf("SOA serial A %d, restarted C %d", sa, sc)
	}
	pxC.Registry.Stop(context.Background())

	// The earlier format, while the cluster is down.
	old := `{"example.test.":{"rev":5,"records":["oldcopy.example.test.\t300\tIN\tA\t10.99.4.9"]}}`
	if err := os.WriteFile(filepath.Join(dirC, "etcd-copy.json"), []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, m := range cluster.Members {
		m.Kill()
	}
	pxC = proxytest.Start(t, "", filesC, New())
	if got := bindtest.Dig(t, portC, "oldcopy.example.test", "A"); got != "10.99.4.9" {
		t.Fatalf("node started without quorum from an old-format copy answers %q", got)
	}
	got := pxC.Do(t, "POST", "/dns/", map[string][]string{"fqdn": {"x.example.test"}, "value": {"10.99.4.10"}, "type": {"A"}})
	if got.Status != 503 {
		t.Fatalf("POST without quorum = %d %q", got.Status, got.Body)
	}
	for _, m := range cluster.Members {
		m.Restart(t)
	}
	cluster.WaitHealthy(30 * time.Second)
	waitDig(t, portC, 30*time.Second, "10.99.4.3", "new1.example.test", "A")
	waitDig(t, portC, 30*time.Second, "", "oldcopy.example.test", "A")
}
