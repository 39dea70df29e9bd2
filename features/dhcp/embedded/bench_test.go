package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
)

// BenchmarkDORA is the server's work for one relayed client: parse DISCOVER,
// handle, encode OFFER, parse REQUEST, handle, encode ACK and its journal line
// (no socket or disk I/O; bench/dhcp.sh measures those against Kea).
func BenchmarkDORA(b *testing.B) {
	cfg := testConfig(b, `
:subnets:
  - :network: 10.96.0.0
    :netmask: 255.240.0.0
    :range: [10.96.1.1, 10.111.250.254]
    :routers: [10.99.0.1]
`)
	e := newEngine(newStore(cfg, quietLog()), quietLog(), nil)
	relayed := packetInfo{ifIndex: 2, ifAddrs: direct.ifAddrs, dst: direct.dst}
	mods := []dhcpv4.Modifier{dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.2")), dhcpv4.WithHwAddr(net.HardwareAddr{0, 0x0c, 1, 0, 0, 0})}
	discover, _ := dhcpv4.New(append(mods, dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover))...)
	request, _ := dhcpv4.New(append(mods, dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverAddr.AsSlice())))...)
	discoverBytes, requestBytes := discover.ToBytes(), request.ToBytes()
	now := nowUnix()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A new client each time: chaddr starts at byte 28.
		binary.BigEndian.PutUint32(discoverBytes[30:], uint32(i))
		binary.BigEndian.PutUint32(requestBytes[30:], uint32(i))
		d, err := dhcpv4.FromBytes(discoverBytes)
		if err != nil {
			b.Fatal(err)
		}
		offerOut, ok := e.handle(d, relayed, now)
		if !ok {
			b.Fatal("no offer")
		}
		offer, err := dhcpv4.FromBytes(offerOut.reply)
		if err != nil {
			b.Fatal(err)
		}
		r, err := dhcpv4.FromBytes(requestBytes)
		if err != nil {
			b.Fatal(err)
		}
		r.Options[dhcpv4.OptionRequestedIPAddress.Code()] = offer.YourIPAddr.To4()
		ackOut, ok := e.handle(r, relayed, now)
		if !ok || ackOut.durable == nil {
			b.Fatal("no ack")
		}
		_ = ackOut.durable.encode()
	}
}

// BenchmarkJournalGroupCommit is the durable write path: one lease line per
// operation, written and fdatasync'ed in groups by the committer.
func BenchmarkJournalGroupCommit(b *testing.B) {
	j := newJournal(b.TempDir(), true)
	if err := j.rewrite(nil, 0); err != nil {
		b.Fatal(err)
	}
	defer j.close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.run(ctx, func() {}, func() {})
	}()
	line := (&entry{Kind: kindLease, IP: "10.96.1.1", MAC: "00:0c:01:00:00:00", Starts: 1, Ends: 2}).encode()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		acked := make(chan error, 1)
		for pb.Next() {
			j.append(line, func(err error) { acked <- err })
			if err := <-acked; err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	stop()
	<-done
}

// BenchmarkDORAOnEtcd is the HA path bench/dhcp-ha.sh loads: two nodes on one
// prefix of a real 3-member etcd cluster, every client's DISCOVER and REQUEST
// reaching both (segmentDORA), many clients at once so the committer groups
// leases into transactions. ns/op is wall time per client (etcd's fsyncs set
// it); cpu-ns/op is this process's CPU (both nodes, their etcd clients and the
// benchmark's own packet building) per client and etcd-cpu-ns/op the three
// members', which together are what the shared core of the bench runs out of.
func BenchmarkDORAOnEtcd(b *testing.B) {
	cluster := etcdtest.Start(b, 3)
	yaml := `
:subnets:
  - :network: 10.96.0.0
    :netmask: 255.240.0.0
    :range: [10.96.1.1, 10.111.250.254]
    :lease_time: 600
`
	prefix := fmt.Sprintf("/sp-dhcp-bench-%d/", b.N)
	nodes := []*node{startNodeWith(b, cluster, prefix, "10.96.0.1", yaml), startNodeWith(b, cluster, prefix, "10.96.0.2", yaml)}
	var next, failed atomic.Uint64
	before, etcdBefore := processCPU(), childrenCPU()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rnd := rand.New(rand.NewSource(int64(next.Add(1 << 32))))
		for pb.Next() {
			c := next.Add(1)
			mac := fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(c>>32), byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
			if ip, _ := segmentDORA(b, nodes, mac, rnd); !ip.IsValid() {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(childrenCPU()-etcdBefore)/float64(b.N), "etcd-cpu-ns/op")
	b.ReportMetric(float64(failed.Load())/float64(b.N)*100, "%unanswered")
	var commits, txns uint64
	for _, n := range nodes {
		commits, txns = commits+n.st.shared.commits.Load(), txns+n.st.shared.txns.Load()
	}
	b.ReportMetric(float64(commits)/float64(max(txns, 1)), "leases/txn")
}

// processCPU is the user and system CPU this process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// childrenCPU is the user and system CPU of this process's running children
// (the etcd members), in nanoseconds, from /proc (10 ms clock ticks).
func childrenCPU() int64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	var ticks int64
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// After "pid (comm) ": state, ppid, ..., utime and stime are the 12th and 13th.
		_, rest, ok := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 || f[1] != me {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return ticks * int64(10*time.Millisecond)
}
