package httplimit

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Gate counts open connections over every listener it wraps and refuses those past
// MaxConnections in all or MaxConnectionsPerClient from one address. A refused
// connection is closed at once, before TLS or HTTP reads a byte of it, so it costs
// the descriptor for a moment only.
type Gate struct {
	max, perClient int

	mu       sync.Mutex
	open     int
	byClient map[string]int

	refusedTotal, refusedPerClient atomic.Uint64
}

// NewGate makes a gate for s (MaxConnections resolved; 0 or less is no cap).
func NewGate(s Settings) *Gate {
	return &Gate{max: s.MaxConnections, perClient: s.MaxConnectionsPerClient, byClient: map[string]int{}}
}

// Listener wraps ln: Accept returns admitted connections only.
func (g *Gate) Listener(ln net.Listener) net.Listener { return &gatedListener{Listener: ln, gate: g} }

// Open is the number of admitted connections not yet closed.
func (g *Gate) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Refused counts refusals by the cap that refused: all connections, or one client's.
func (g *Gate) Refused() (total, perClient uint64) {
	return g.refusedTotal.Load(), g.refusedPerClient.Load()
}

// admit takes a slot for client, or reports which cap is full.
func (g *Gate) admit(client string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.max > 0 && g.open >= g.max {
		g.refusedTotal.Add(1)
		return false
	}
	if g.perClient > 0 && g.byClient[client] >= g.perClient {
		g.refusedPerClient.Add(1)
		return false
	}
	g.open++
	g.byClient[client]++
	return true
}

func (g *Gate) release(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open--
	if g.byClient[client]--; g.byClient[client] <= 0 {
		delete(g.byClient, client)
	}
}

type gatedListener struct {
	net.Listener
	gate *Gate
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientAddress(c.RemoteAddr())
		if !l.gate.admit(client) {
			closeAtOnce(c)
			continue
		}
		return &gatedConn{Conn: c, gate: l.gate, client: client}, nil
	}
}

// closeAtOnce closes with a reset rather than a FIN handshake, so the socket does not
// linger in the kernel on behalf of a client that is over its limit.
func closeAtOnce(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// clientAddress is the IP of addr (the port differs per connection).
func clientAddress(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// gatedConn gives its slot back when closed (once: net/http may close twice).
type gatedConn struct {
	net.Conn
	gate   *Gate
	client string
	once   sync.Once
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.gate.release(c.client) })
	return err
}

// ReadFrom keeps the kernel's sendfile/splice path that net/http uses for files (a
// wrapped conn would otherwise hide *net.TCPConn's ReadFrom).
func (c *gatedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps net/http's graceful close (FIN, then drain) for plain TCP.
func (c *gatedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
