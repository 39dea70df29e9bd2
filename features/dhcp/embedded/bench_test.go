package embedded

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
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
