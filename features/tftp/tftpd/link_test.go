package tftpd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Both kinds of link carry lockstep and windows (sendmmsg on netpoller links, GSO on
// direct ones), with losses, and the server hands out no more direct links than allowed.
func TestBothLinks(t *testing.T) {
	content := randomBytes(t, 300_000)
	for _, direct := range []int{1, -1} {
		s := startServer(t, map[string][]byte{"f": content}, func(c *Config) { c.DirectLinks = direct })
		for _, tc := range []struct {
			blksize, window int
			drop            map[uint64]bool
		}{{512, 1, nil}, {1468, 16, map[uint64]bool{7: true, 40: true}}, {8192, 64, map[uint64]bool{30: true}}} {
			c := dialRaw(t, s)
			got, _ := c.fetchWindowed("f", tc.blksize, tc.window, tc.drop)
			if !bytes.Equal(got, content) {
				t.Fatalf("direct %d blksize %d window %d: got %d bytes", direct, tc.blksize, tc.window, len(got))
			}
		}
		held := make([]*rawClient, 3)
		for i := range held {
			held[i] = dialRaw(t, s)
			held[i].request(opRRQ, "f", "octet")
			held[i].mustRecv()
		}
		if want := int64(max(direct, 0)); s.direct.Load() != want {
			t.Fatalf("DirectLinks %d: %d direct links in use", direct, s.direct.Load())
		}
	}
}

// A client slower than the direct link's fast wait is served through the ordinary
// blocking path.
func TestSlowClientOnDirectLink(t *testing.T) {
	content := randomBytes(t, 5000)
	s := startServer(t, map[string][]byte{"f": content}, func(c *Config) { c.DirectLinks = 1 })
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	var got []byte
	for {
		p := c.mustRecv()
		got = append(got, p.data...)
		time.Sleep(3 * fastWait)
		c.ack(p.block)
		if len(p.data) < 512 {
			break
		}
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("got %d bytes", len(got))
	}
	waitStats(t, s, "completion", func(st Stats) bool { return st.Completed == 1 })
}

// Shutdown wakes a transfer blocked in read(2) on a direct link.
func TestShutdownInterruptsADirectRead(t *testing.T) {
	s := startServer(t, map[string][]byte{"f": randomBytes(t, 5000)}, func(c *Config) { c.Timeout = time.Minute; c.DirectLinks = 1 })
	c := dialRaw(t, s)
	c.request(opRRQ, "f", "octet")
	c.mustRecv()
	waitStats(t, s, "a direct transfer", func(st Stats) bool { return st.Active == 1 && s.direct.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %s", d)
	}
	if st := s.Stats(); st.Active != 0 || st.Failed != 1 {
		t.Fatalf("after Shutdown: %+v", st)
	}
}

func TestIPv6(t *testing.T) {
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	content := randomBytes(t, 100_000)
	for _, direct := range []int{1, -1} {
		s := startServer(t, map[string][]byte{"f": content}, func(c *Config) { c.Addr = "[::1]:0"; c.DirectLinks = direct })
		fetchIPv6(t, s, content)
	}
}

func fetchIPv6(t *testing.T, s *Server, content []byte) {
	for _, window := range []int{1, 16} {
		conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Fatal(err)
		}
		c := &rawClient{t: t, conn: conn, server: s.Addr().(*net.UDPAddr), buf: make([]byte, 70000)}
		got, _ := c.fetchWindowed("f", 1468, window, map[uint64]bool{3: true})
		conn.Close()
		if !bytes.Equal(got, content) {
			t.Fatalf("window %d over IPv6: got %d bytes", window, len(got))
		}
	}
}
