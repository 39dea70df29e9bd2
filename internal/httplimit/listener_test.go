package httplimit

import (
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address local (127.0.0.x). A refused
// connection may already be reset when the dial returns: then c is nil.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// settle waits until the gate's open plus refused connections reach n (it has decided
// on every dialled one), so refused needs no race with a slow accept loop.
func settle(t *testing.T, gate *Gate, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		total, perClient := gate.Refused()
		if gate.Open()+int(total+perClient) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate decided on %d+%d+%d connections, want %d", gate.Open(), total, perClient, n)
		}
	}
}

// refused reports whether the server closed c without a word.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	if c == nil {
		return true
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false // still open: admitted
	}
	return err != nil
}

func TestGateCapsPerClientAndInAll(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := NewGate(Settings{MaxConnections: 5, MaxConnectionsPerClient: 3})
	ln := gate.Listener(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()

	var a []net.Conn
	for i := 0; i < 4; i++ {
		a = append(a, dialFrom(t, "127.0.0.1", addr))
	}
	settle(t, gate, 4)
	for i, c := range a {
		if got := refused(t, c); got != (i == 3) {
			t.Errorf("client A connection %d refused=%v, want %v (3 per client)", i, got, i == 3)
		}
	}
	b1, b2, b3 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	settle(t, gate, 7)
	if refused(t, b1) || refused(t, b2) {
		t.Error("client B's first two connections refused; 5 in all leaves it two")
	}
	if !refused(t, b3) {
		t.Error("client B's third connection admitted past max_connections 5")
	}
	if total, perClient := gate.Refused(); total != 1 || perClient != 1 {
		t.Errorf("refused: %d over max_connections, %d over the per-client cap; want 1 and 1", total, perClient)
	}
	if gate.Open() != 5 {
		t.Errorf("open = %d, want 5", gate.Open())
	}

	// A closed connection gives its slot back, once however often it is closed.
	first := <-accepted
	first.Close()
	first.Close()
	if gate.Open() != 4 {
		t.Fatalf("open after close = %d, want 4", gate.Open())
	}
	c := dialFrom(t, "127.0.0.3", addr)
	settle(t, gate, 7) // 4 open before c, and 2 refused
	if refused(t, c) {
		t.Error("a slot freed by a close is not reusable")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Error(err)
	}
	got := <-accepted
	for got.RemoteAddr().(*net.TCPAddr).IP.String() != "127.0.0.3" {
		got = <-accepted
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(got, buf); err != nil || buf[0] != 'x' {
		t.Errorf("admitted connection does not carry data: %v", err)
	}
}

func TestConnectionBudget(t *testing.T) {
	for _, tc := range []struct {
		files uint64
		want  int
	}{
		{256, 16}, {1024, 256}, {4096, 1792}, {20000, 9744}, {1 << 20, 10000},
	} {
		if got := ConnectionBudget(tc.files); got != tc.want {
			t.Errorf("ConnectionBudget(%d) = %d, want %d", tc.files, got, tc.want)
		}
	}
}
