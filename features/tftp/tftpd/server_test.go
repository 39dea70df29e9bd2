package tftpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitStats polls the counters until cond holds (transfers end asynchronously).
func waitStats(t *testing.T, s *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The pin/tftp client is an independent implementation of blksize and tsize.
func TestPinClientFetches(t *testing.T) {
	content := randomBytes(t, 200_000)
	s := startServer(t, map[string][]byte{"f": content, "exact": content[:4096]}, nil)
	for _, blksize := range []int{0, 512, 1468, 8192, 65464} {
		for _, name := range []string{"f", "exact"} {
			c, err := tftp.NewClient(s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if blksize > 0 {
				c.SetBlockSize(blksize)
			}
			c.RequestTSize(true)
			wt, err := c.Receive(name, "octet")
			if err != nil {
				t.Fatalf("blksize %d %s: %v", blksize, name, err)
			}
			if n, ok := wt.(tftp.IncomingTransfer).Size(); !ok || n != int64(len(map[string][]byte{"f": content, "exact": content[:4096]}[name])) {
				t.Errorf("blksize %d %s: tsize %d %v", blksize, name, n, ok)
			}
			var got bytes.Buffer
			if _, err := wt.WriteTo(&got); err != nil {
				t.Fatalf("blksize %d %s: %v", blksize, name, err)
			}
			want := content
			if name == "exact" {
				want = content[:4096] // a multiple of 512: ends with an empty block
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("blksize %d %s: got %d bytes, want %d", blksize, name, got.Len(), len(want))
			}
		}
	}
	waitStats(t, s, "10 completed transfers", func(st Stats) bool { return st.Completed == 10 && st.Active == 0 })
}

func TestNoOptionsMeansNoOACK(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("hello")}, nil)
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	p := c.mustRecv()
	if p.op != opDATA || p.block != 1 || string(p.data) != "hello" {
		t.Fatalf("got %+v", p)
	}
	if c.peer.Port == s.Addr().(*net.UDPAddr).Port {
		t.Fatal("the transfer must come from its own port (TID), not the listening one")
	}
	c.ack(1)
	waitStats(t, s, "completion", func(st Stats) bool { return st.Completed == 1 && st.BytesSent == 5 })
}

func TestOptionNegotiation(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": randomBytes(t, 3000)}, func(c *Config) { c.MaxWindowSize = 8 })
	for _, tc := range []struct {
		opts []string
		want map[string]string // nil: no OACK expected
	}{
		{[]string{"blksize", "1468", "tsize", "0"}, map[string]string{"blksize": "1468", "tsize": "3000"}},
		{[]string{"BLKSIZE", "70000"}, map[string]string{"blksize": "65464"}}, // names are case-insensitive, values clamped
		{[]string{"blksize", "4"}, nil}, // below RFC 2348's minimum: ignored
		{[]string{"timeout", "3", "windowsize", "200"}, map[string]string{"timeout": "3", "windowsize": "8"}},
		{[]string{"timeout", "0", "windowsize", "0", "bogus", "1"}, nil},
		{[]string{"blksize", "65464", "windowsize", "64"}, map[string]string{"blksize": "65464", "windowsize": "8"}},
		{[]string{"blksize", "512", "blksize", "1024"}, map[string]string{"blksize": "512"}}, // the first wins
	} {
		c := dialRaw(t, s)
		c.request(opRRQ, "f", "octet", tc.opts...)
		p := c.mustRecv()
		if tc.want == nil {
			if p.op != opDATA || p.block != 1 || len(p.data) != 512 {
				t.Errorf("%v: want plain DATA 1 of 512 bytes, got op %d block %d len %d", tc.opts, p.op, p.block, len(p.data))
			}
		} else if p.op != opOACK || fmt.Sprint(p.opts) != fmt.Sprint(tc.want) {
			t.Errorf("%v: got op %d %v, want OACK %v", tc.opts, p.op, p.opts, tc.want)
		}
		c.send(appendError(nil, CodeBadOption, "enough")) // end it
	}
	// Window bytes are capped: 1 MiB / 65464 = 16 blocks.
	s2 := startServer(t, map[string][]byte{"f": []byte("x")}, func(c *Config) { c.MaxWindowSize = 64 })
	c := dialRaw(t, s2)
	c.request(opRRQ, "f", "octet", "windowsize", "64", "blksize", "65464")
	if p := c.mustRecv(); p.opts["windowsize"] != "16" {
		t.Fatalf("window cap: %+v", p)
	}
}

func TestWindowedTransfers(t *testing.T) {
	content := randomBytes(t, 100_000)
	s := startServer(t, map[string][]byte{"f": content}, func(c *Config) { c.MaxWindowSize = 16 })
	for _, tc := range []struct {
		blksize, window int
		drop            []uint64
	}{
		{512, 16, nil},
		{1468, 4, nil},
		{1000, 8, []uint64{3}},           // first block of a window... and a resend from the gap
		{512, 16, []uint64{20, 21, 100}}, // several losses, one mid-window
		{512, 4, []uint64{4, 8}},         // last block of a window: found by timeout
		{1024, 16, []uint64{98}},         // the final, short block (100000/1024 = 97 full blocks)
	} {
		drop := map[uint64]bool{}
		for _, b := range tc.drop {
			drop[b] = true
		}
		c := dialRaw(t, s)
		got, packets := c.fetchWindowed("f", tc.blksize, tc.window, drop)
		if !bytes.Equal(got, content) {
			t.Fatalf("blksize %d window %d drop %v: got %d bytes", tc.blksize, tc.window, tc.drop, len(got))
		}
		if blocks := len(content)/tc.blksize + 1; packets < blocks+len(tc.drop) {
			t.Errorf("blksize %d window %d: only %d packets for %d blocks and %d losses", tc.blksize, tc.window, packets, blocks, len(tc.drop))
		}
	}
}

// More than 65535 blocks: the wire block number wraps to 0 and the transfer goes on,
// also when a loss around the wrap has to be resent. (Lockstep rollover is covered by
// the 50 MB peer test with real clients.)
func TestBlockNumberRollover(t *testing.T) {
	content := randomBytes(t, 70_000*8+3)
	s := startServer(t, map[string][]byte{"f": content}, nil)
	c := dialRaw(t, s)
	got, _ := c.fetchWindowed("f", 8, 16, map[uint64]bool{65535: true, 65536: true, 65537: true})
	if !bytes.Equal(got, content) {
		t.Fatalf("got %d of %d bytes", len(got), len(content))
	}
}

// A duplicate ACK must not make a lockstep sender send the next block twice (the
// Sorcerer's Apprentice syndrome); only a timeout resends.
func TestLockstepIgnoresDuplicateACKs(t *testing.T) {
	// The timeout is long, so no resend falls in the 300 ms looked at, however late
	// this test sees block 2.
	s := startServer(t, map[string][]byte{"f": randomBytes(t, 2000)}, func(c *Config) { c.Timeout = 30 * time.Second })
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	if p := c.mustRecv(); p.block != 1 {
		t.Fatalf("got %+v", p)
	}
	c.ack(1)
	if p := c.mustRecv(); p.block != 2 {
		t.Fatalf("got %+v", p)
	}
	c.ack(1) // delayed duplicate
	c.ack(1)
	if p, err := c.recv(300 * time.Millisecond); err == nil {
		t.Fatalf("duplicate ACK triggered %+v", p)
	}
}

func TestTimeoutResendsThenGivesUp(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("data")}, func(c *Config) { c.Timeout = 50 * time.Millisecond; c.Retries = 2 })
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	for i := 0; i < 3; i++ { // first send and two resends
		if p := c.mustRecv(); p.op != opDATA || p.block != 1 {
			t.Fatalf("send %d: %+v", i, p)
		}
	}
	p := c.mustRecv()
	if p.op != opERROR {
		t.Fatalf("after the last retry want an ERROR, got %+v", p)
	}
	waitStats(t, s, "a failed transfer", func(st Stats) bool { return st.Failed == 1 && st.Active == 0 })
}

// The timeout option (seconds) replaces the server's retransmission timeout.
func TestTimeoutOptionIsUsed(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("data")}, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	c := dialRaw(t, s)
	sent := time.Now()
	c.request(opRRQ, "f", "octet", "timeout", "1")
	if p := c.mustRecv(); p.op != opOACK || p.opts["timeout"] != "1" {
		t.Fatalf("got %+v", p)
	}
	// Timed from the request, which the server's timer can only follow: a loaded
	// machine makes the resend later, never sooner (20 ms would mean the option was ignored).
	if p := c.mustRecv(); p.op != opOACK {
		t.Fatalf("want the OACK resent after 1 s, got %+v", p)
	}
	if d := time.Since(sent); d < 900*time.Millisecond {
		t.Fatalf("OACK resent %s after the request, before the negotiated 1 s timeout", d)
	}
}

func TestRefusals(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("x")}, nil)
	for _, tc := range []struct {
		name string
		pkt  []byte
		code uint16
	}{
		{"write request", []byte("\x00\x02f\x00octet\x00"), CodeAccessViolation},
		{"not found", []byte("\x00\x01nope\x00octet\x00"), CodeNotFound},
		{"unknown mode", []byte("\x00\x01f\x00mail\x00"), CodeIllegal},
		{"unterminated", []byte("\x00\x01f\x00octet"), CodeIllegal},
		{"no mode", []byte("\x00\x01f\x00"), CodeIllegal},
		{"empty filename", []byte("\x00\x01\x00octet\x00"), CodeIllegal},
	} {
		c := dialRaw(t, s)
		c.send(tc.pkt)
		p := c.mustRecv()
		if p.op != opERROR || p.code != tc.code {
			t.Errorf("%s: got %+v, want ERROR %d", tc.name, p, tc.code)
		}
	}
	// Packets that are not requests get no answer at all.
	for _, pkt := range [][]byte{[]byte("\x00\x03\x00\x01hi"), []byte("\x00\x04\x00\x01"), {0}, []byte("\x01\x01f\x00octet\x00")} {
		c := dialRaw(t, s)
		c.send(pkt)
		if p, err := c.recv(100 * time.Millisecond); err == nil {
			t.Errorf("%q was answered with %+v", pkt, p)
		}
	}
	waitStats(t, s, "refusals counted", func(st Stats) bool { return st.Refused == 10 })
}

func TestSourceErrorsReachTheClient(t *testing.T) {
	src := SourceFunc(func(_ context.Context, _ netip.AddrPort, req *Request) (Content, error) {
		switch req.Filename {
		case "custom":
			return nil, &Error{Code: CodeAccessViolation, Msg: "Not for you"}
		default:
			return nil, errors.New("disk on fire")
		}
	})
	s := startServer(t, nil, func(c *Config) { c.Source = src })
	for name, want := range map[string]string{"custom": "Not for you", "other": "Access violation"} {
		c := dialRaw(t, s)
		c.request(opRRQ, name, "octet")
		if p := c.mustRecv(); p.op != opERROR || p.code != CodeAccessViolation || p.text != want {
			t.Errorf("%s: got %+v", name, p)
		}
	}
}

func TestBusyServerRefuses(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("x")}, func(c *Config) { c.MaxTransfers = 1; c.Timeout = 5 * time.Second })
	held := dialRaw(t, s)
	held.request(opRRQ, "f", "octet")
	held.mustRecv() // DATA 1, never acknowledged: the slot stays taken
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	if p := c.mustRecv(); p.op != opERROR || p.text != "Server busy, try again later" {
		t.Fatalf("got %+v", p)
	}
	held.ack(1)
	waitStats(t, s, "the slot freed", func(st Stats) bool { return st.Active == 0 })
	c.request(opRRQ, "f", "octet")
	if p := c.mustRecv(); p.op != opDATA {
		t.Fatalf("after the slot freed: %+v", p)
	}
}

func TestClientAbortAfterOACK(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": randomBytes(t, 5000)}, nil)
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet", "tsize", "0")
	if p := c.mustRecv(); p.op != opOACK || p.opts["tsize"] != "5000" {
		t.Fatalf("got %+v", p)
	}
	c.send(appendError(nil, CodeBadOption, "just wanted the size"))
	waitStats(t, s, "an aborted transfer", func(st Stats) bool { return st.Aborted == 1 && st.Active == 0 })
}

func TestNetasciiMode(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": []byte("line1\nline2\rend")}, nil)
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "netascii", "tsize", "0")
	p := c.mustRecv()
	want := "line1\r\nline2\r\x00end"
	if p.opts["tsize"] != strconv.Itoa(len(want)) {
		t.Fatalf("tsize %q, want %d", p.opts["tsize"], len(want))
	}
	c.ack(0)
	if p := c.mustRecv(); string(p.data) != want {
		t.Fatalf("got %q, want %q", p.data, want)
	}
}

func TestShutdownCutsStalledTransfers(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": randomBytes(t, 10_000)}, func(c *Config) { c.Timeout = time.Minute })
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		c := dialRaw(t, s)
		c.request(opRRQ, "f", "octet")
		c.mustRecv()
	}
	waitStats(t, s, "3 running transfers", func(st Stats) bool { return st.Active == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	wg.Add(1)
	var err error
	go func() { defer wg.Done(); err = s.Shutdown(ctx) }()
	wg.Wait()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline error", err)
	}
	if st := s.Stats(); st.Active != 0 {
		t.Fatalf("transfers still running after Shutdown: %+v", st)
	}
}
