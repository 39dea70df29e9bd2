package tftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// startServer serves files from a map (name -> content) on 127.0.0.1:0.
func startServer(t testing.TB, files map[string][]byte, tune func(*Config)) *Server {
	t.Helper()
	src := SourceFunc(func(_ context.Context, _ netip.AddrPort, req *Request) (Content, error) {
		b, ok := files[req.Filename]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return BytesContent(b), nil
	})
	log := logrus.New()
	log.SetOutput(io.Discard)
	if testing.Verbose() {
		log.SetOutput(os.Stderr)
	}
	// Resends are for lost packets; a test client late by a second on a loaded machine
	// must not fail its transfer.
	cfg := Config{Addr: "127.0.0.1:0", Source: src, Timeout: time.Second, Retries: 5, Log: logrus.NewEntry(log)}
	if tune != nil {
		tune(&cfg)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Serve(ctx)
	t.Cleanup(func() {
		cancel()
		cut, now := context.WithCancel(context.Background())
		now() // tests leave transfers stalled on purpose: cut them at once
		_ = s.Shutdown(cut)
	})
	return s
}

// rawClient speaks TFTP packet by packet, so tests can drop, repeat or withhold ACKs.
type rawClient struct {
	t      testing.TB
	conn   *net.UDPConn
	server *net.UDPAddr
	peer   *net.UDPAddr // the transfer's TID, learnt from the first reply
	buf    []byte
}

func dialRaw(t testing.TB, s *Server) *rawClient {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, server: s.Addr().(*net.UDPAddr), buf: make([]byte, 70000)}
}

func (c *rawClient) send(pkt []byte) {
	c.t.Helper()
	to := c.peer
	if to == nil {
		to = c.server
	}
	if _, err := c.conn.WriteToUDP(pkt, to); err != nil {
		c.t.Fatal(err)
	}
}

// request sends an RRQ (or WRQ) with option name/value pairs.
func (c *rawClient) request(op uint16, name, mode string, opts ...string) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, s := range append([]string{name, mode}, opts...) {
		b = append(append(b, s...), 0)
	}
	c.peer = nil
	if _, err := c.conn.WriteToUDP(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) ack(block uint16) {
	c.t.Helper()
	c.send([]byte{0, byte(opACK), byte(block >> 8), byte(block)})
}

// packet is a decoded server packet.
type packet struct {
	op    uint16
	block uint16 // DATA
	data  []byte // DATA payload
	code  uint16 // ERROR
	text  string // ERROR message
	opts  map[string]string
}

var errNoPacket = errors.New("no packet before the timeout")

// recv waits up to d for the next server packet.
func (c *rawClient) recv(d time.Duration) (packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.conn.ReadFromUDP(c.buf)
	if err != nil {
		return packet{}, errNoPacket
	}
	if c.peer == nil {
		c.peer = from
	}
	b := bytes.Clone(c.buf[:n])
	p := packet{op: binary.BigEndian.Uint16(b)}
	switch p.op {
	case opDATA:
		p.block, p.data = binary.BigEndian.Uint16(b[2:]), b[4:]
	case opERROR:
		p.code, p.text = binary.BigEndian.Uint16(b[2:]), string(bytes.TrimRight(b[4:], "\x00"))
	case opOACK:
		p.opts = map[string]string{}
		f := bytes.Split(bytes.TrimRight(b[2:], "\x00"), []byte{0})
		for i := 0; i+1 < len(f); i += 2 {
			p.opts[string(f[i])] = string(f[i+1])
		}
	}
	return p, nil
}

func (c *rawClient) mustRecv() packet {
	c.t.Helper()
	p, err := c.recv(5 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// fetchWindowed is an RFC 7440 receiver: it ACKs every window-th block and the last
// one; on a gap, or after 50 ms of silence (a burst overflowed its socket buffer),
// it ACKs the last block received in order and waits for the resend.
// drop lists absolute block numbers to lose the first time they arrive. It returns
// the content and the number of DATA packets received.
func (c *rawClient) fetchWindowed(name string, blksize, window int, drop map[uint64]bool) ([]byte, int) {
	c.t.Helper()
	c.request(opRRQ, name, "octet", "blksize", strconv.Itoa(blksize), "windowsize", strconv.Itoa(window))
	p := c.mustRecv()
	if p.op != opOACK || p.opts["windowsize"] != strconv.Itoa(window) {
		c.t.Fatalf("wanted an OACK with windowsize %d, got %+v", window, p)
	}
	c.ack(0)
	var out []byte
	var have uint64 // last absolute block received in order
	nacked := ^uint64(0)
	inWindow, packets := 0, 0
	silences := 0
	for {
		p, err := c.recv(50 * time.Millisecond)
		if err != nil {
			if silences++; silences > 100 {
				c.t.Fatalf("no DATA after block %d", have)
			}
			c.ack(uint16(have))
			inWindow = 0
			continue
		}
		silences = 0
		if p.op != opDATA {
			c.t.Fatalf("wanted DATA, got %+v", p)
		}
		packets++
		ahead := p.block - uint16(have)
		if ahead == 0 || ahead > 1<<15 {
			continue // a block we already hold, resent
		}
		abs := have + uint64(ahead)
		if drop[abs] {
			delete(drop, abs)
			continue
		}
		if ahead > 1 { // gap: ask (once) for everything after the last good block
			if nacked != have {
				c.ack(uint16(have))
				nacked = have
			}
			inWindow = 0
			continue
		}
		have = abs
		out = append(out, p.data...)
		inWindow++
		last := len(p.data) < blksize
		if last || inWindow == window {
			c.ack(uint16(have))
			inWindow = 0
		}
		if last {
			return out, packets
		}
	}
}
