// Package tftpd is the embedded TFTP server: read-only RFC 1350 with the option
// extensions PXE clients use (RFC 2347 OACK, 2348 blksize, 2349 timeout and tsize) and
// RFC 7440 windowsize. Write requests are refused. Each transfer runs on its own socket
// (its TID) in its own goroutine, bounded by Config.MaxTransfers, and every goroutine
// belongs to the Server and ends by Shutdown.
package tftpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Config is what a Server needs.
type Config struct {
	Addr          string        // UDP listen address, e.g. "0.0.0.0:69"
	Source        Source        // finds the content of read requests
	MaxTransfers  int           // concurrent transfers; more are refused with "server busy"
	Timeout       time.Duration // retransmission timeout unless the client negotiates one
	Retries       int           // retransmissions before a transfer is abandoned
	MaxWindowSize int           // largest RFC 7440 windowsize granted
	// DirectLinks is how many transfers may run on a direct link at once (see
	// directLink); 0 means GOMAXPROCS-1, negative means none.
	DirectLinks int
	Log         *logrus.Entry
}

// Server is a running TFTP server.
type Server struct {
	cfg    Config
	conn   *net.UDPConn
	reader requestReader
	ctx    context.Context // cancelled to cut transfers short
	cancel context.CancelFunc
	direct atomic.Int64 // transfers on a direct link
	wg     sync.WaitGroup
	stats  counters

	mu      sync.Mutex
	closing bool
	serving chan struct{} // set while Serve runs, closed when it returns
}

// requestReader reads a request and the local address it was sent to, so the reply
// leaves from that address on multi-homed hosts.
type requestReader interface {
	read(b []byte) (n int, local netip.Addr, remote netip.AddrPort, err error)
}

// Listen binds the UDP socket; Serve then answers on it.
func Listen(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("tftpd: no Source")
	}
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = 1000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.MaxWindowSize <= 0 {
		cfg.MaxWindowSize = 64
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("tftp listen address %q: %w", cfg.Addr, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("tftp listen on %s: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, conn: conn, ctx: ctx, cancel: cancel}
	s.reader = newRequestReader(conn)
	return s, nil
}

// Addr is the bound UDP address.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Serve answers requests until ctx ends or Shutdown is called.
func (s *Server) Serve(ctx context.Context) {
	s.mu.Lock()
	if s.closing || s.serving != nil {
		s.mu.Unlock()
		return
	}
	done := make(chan struct{})
	s.serving = done
	s.mu.Unlock()
	defer close(done)
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, local, remote, err := s.reader.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.cfg.Log.Warnf("TFTP: reading requests: %v", err)
			time.Sleep(10 * time.Millisecond) // do not spin on a persistent socket error
			continue
		}
		s.handle(buf[:n], local, remote)
	}
}

func (s *Server) handle(pkt []byte, local netip.Addr, remote netip.AddrPort) {
	if len(pkt) < 2 || pkt[0] != 0 || (pkt[1] != byte(opRRQ) && pkt[1] != byte(opWRQ)) {
		// Not a request: stray DATA/ACK/ERROR for a finished transfer, or noise. No
		// answer, so spoofed packets cannot bounce errors off us.
		s.stats.refused.Add(1)
		return
	}
	req, err := ParseRequest(pkt)
	if err != nil {
		s.stats.refused.Add(1)
		s.cfg.Log.Debugf("TFTP: bad request from %s: %v", remote, err)
		s.replyError(remote, CodeIllegal, "Illegal TFTP operation")
		return
	}
	if req.Write {
		s.stats.refused.Add(1)
		s.cfg.Log.Warnf("TFTP: refused write request for %q from %s", req.Filename, remote)
		s.replyError(remote, CodeAccessViolation, "Write requests are not accepted")
		return
	}
	s.stats.requests.Add(1)
	if int(s.stats.active.Add(1)) > s.cfg.MaxTransfers {
		s.stats.active.Add(-1)
		s.stats.refused.Add(1)
		s.cfg.Log.Warnf("TFTP: refused %q for %s: %d transfers running", req.Filename, remote, s.cfg.MaxTransfers)
		s.replyError(remote, CodeUndefined, "Server busy, try again later")
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.stats.active.Add(-1)
		s.serveRead(local, remote, req)
	}()
}

// replyError answers from the listening socket (no transfer was started).
func (s *Server) replyError(to netip.AddrPort, code uint16, msg string) {
	_, _ = s.conn.WriteToUDPAddrPort(appendError(nil, code, msg), to)
}

// Shutdown stops accepting requests and waits for Serve to return and for running
// transfers; when ctx ends first, the remaining transfers are cut and waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	serving := s.serving
	s.mu.Unlock()
	s.conn.Close()
	if serving != nil {
		<-serving // no new transfer can be added after this
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel() // interrupts every transfer's socket
		<-done
		err = fmt.Errorf("tftp transfers cut at shutdown: %w", ctx.Err())
	}
	s.cancel()
	return err
}
