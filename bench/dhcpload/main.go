// Command dhcpload is the DHCP benchmark's second load generator. perfdhcp tops out
// at about 14-16k DORA/s on one core of the benchmark machine, below what either
// server under test can answer, so it cannot tell the servers apart. dhcpload does
// the same job as `perfdhcp -4 -r RATE -p SECONDS -R <many> all` in relay mode, with
// batched syscalls (sendmmsg/recvmmsg) and packets built by offset, so it costs less
// per exchange than the servers it drives. It prints perfdhcp's summary lines
// (Rate:, drops ratio:) so bench/dhcp.sh reads both generators alike.
//
// Every exchange is a new client (its MAC derives from the transaction id); a reply
// counts only if it arrives within -drop-time of its request, as perfdhcp counts.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

const batch = 64

type options struct {
	server   netip.AddrPort
	local    netip.Addr
	rate     float64
	duration time.Duration
	dropTime time.Duration
}

// exchange is one client's DORA; discoverAt is written by the pacer and read by
// the receiver, the rest belongs to the receiver.
type exchange struct {
	discoverAt atomic.Int64 // ns since start; 0 = not sent
	requestAt  int64
	offered    bool
	acked      bool
}

type result struct {
	discovers, offers, requests, acks, naks int
	offerDelay, ackDelay                    time.Duration
}

func main() {
	var o options
	server := flag.String("server", "10.99.0.1:67", "DHCP server address:port")
	local := flag.String("local", "", "relay address to send from (giaddr); replies come to its port 67")
	flag.Float64Var(&o.rate, "rate", 1000, "new clients (DISCOVERs) per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	flag.DurationVar(&o.dropTime, "drop-time", time.Second, "a reply later than this counts as a drop")
	flag.Parse()
	var err error
	if o.server, err = netip.ParseAddrPort(*server); err != nil {
		fail(err)
	}
	if o.local, err = netip.ParseAddr(*local); err != nil || !o.local.Is4() {
		fail(fmt.Errorf("-local must be an IPv4 address: %q", *local))
	}
	res, err := run(o)
	if err != nil {
		fail(err)
	}
	report(o, res)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dhcpload:", err)
	os.Exit(1)
}

func run(o options) (result, error) {
	udp, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(o.local, 67)))
	if err != nil {
		return result{}, err
	}
	defer udp.Close()
	_ = udp.SetReadBuffer(8 << 20)
	_ = udp.SetWriteBuffer(8 << 20)
	conn := ipv4.NewPacketConn(udp)
	total := int(o.rate*o.duration.Seconds()) + batch
	exchanges := make([]exchange, total)
	start := time.Now()
	to := net.UDPAddrFromAddrPort(o.server)

	done := make(chan result)
	go func() { done <- receive(conn, to, o, exchanges, start) }()
	sent := pace(conn, to, o, exchanges, start)
	time.Sleep(o.dropTime) // the last requests' answers may still come
	_ = conn.SetReadDeadline(time.Now())
	res := <-done
	res.discovers = sent
	return res, nil
}

// pace sends DISCOVERs at o.rate for o.duration and returns how many it sent.
func pace(conn *ipv4.PacketConn, to net.Addr, o options, exchanges []exchange, start time.Time) int {
	msgs := newMessages(to)
	sent := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= o.duration {
			return sent
		}
		due := min(int(o.rate*elapsed.Seconds()), len(exchanges))
		for sent < due {
			n := min(due-sent, batch)
			now := time.Since(start).Nanoseconds()
			for i := range n {
				xid := uint32(sent + i + 1)
				exchanges[xid-1].discoverAt.Store(now)
				msgs[i].Buffers[0] = msgs[i].Buffers[0][:discover(msgs[i].Buffers[0][:cap(msgs[i].Buffers[0])], xid, o.local)]
			}
			writeAll(conn, msgs[:n])
			sent += n
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// receive answers OFFERs with REQUESTs and counts ACKs until the read deadline.
func receive(conn *ipv4.PacketConn, to net.Addr, o options, exchanges []exchange, start time.Time) result {
	var res result
	in := make([]ipv4.Message, batch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	out := newMessages(to)
	for {
		n, err := conn.ReadBatch(in, 0)
		if err != nil {
			return res
		}
		now := time.Since(start).Nanoseconds()
		queued := 0
		for _, m := range in[:n] {
			r, ok := parseReply(m.Buffers[0][:m.N])
			if !ok || r.xid == 0 || int(r.xid) > len(exchanges) {
				continue
			}
			x := &exchanges[r.xid-1]
			switch r.kind {
			case msgOffer:
				sentAt := x.discoverAt.Load()
				if x.offered || sentAt == 0 || time.Duration(now-sentAt) > o.dropTime {
					continue
				}
				x.offered, x.requestAt = true, now
				res.offers++
				res.offerDelay += time.Duration(now - sentAt)
				b := out[queued].Buffers[0]
				out[queued].Buffers[0] = b[:request(b[:cap(b)], r.xid, o.local, r.yiaddr, r.server)]
				queued++
			case msgAck, msgNak:
				if x.acked || x.requestAt == 0 || time.Duration(now-x.requestAt) > o.dropTime {
					continue
				}
				x.acked = true
				if r.kind == msgNak {
					res.naks++
					continue
				}
				res.acks++
				res.ackDelay += time.Duration(now - x.requestAt)
			}
		}
		writeAll(conn, out[:queued])
		res.requests += queued
	}
}

func newMessages(to net.Addr) []ipv4.Message {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, packetLen)}
		msgs[i].Addr = to
	}
	return msgs
}

// writeAll sends every message; sendmmsg may take fewer than offered.
func writeAll(conn *ipv4.PacketConn, msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := conn.WriteBatch(msgs, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dhcpload: send:", err)
			return
		}
		msgs = msgs[n:]
	}
}

// report prints perfdhcp's summary format.
func report(o options, r result) {
	fmt.Printf("Rate: %.1f 4-way exchanges/second, expected rate: %.0f\n", float64(r.acks)/o.duration.Seconds(), o.rate)
	stats := func(name string, sent, received int, delay time.Duration) {
		drops := 0.0
		if sent > 0 {
			drops = float64(sent-received) * 100 / float64(sent)
		}
		avg := 0.0
		if received > 0 {
			avg = float64(delay.Microseconds()) / 1000 / float64(received)
		}
		fmt.Printf("***Statistics for: %s***\nsent packets: %d\nreceived packets: %d\ndrops ratio: %.3f %%\navg delay: %.3f ms\n",
			name, sent, received, drops, avg)
	}
	stats("DISCOVER-OFFER", r.discovers, r.offers, r.offerDelay)
	stats("REQUEST-ACK", r.requests, r.acks, r.ackDelay)
	if r.naks > 0 {
		fmt.Printf("NAKs received: %d\n", r.naks)
	}
}
