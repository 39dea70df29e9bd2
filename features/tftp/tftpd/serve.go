package tftpd

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"time"
)

// serveRead runs one read request to its end and logs one line about it.
func (s *Server) serveRead(local netip.Addr, remote netip.AddrPort, req *Request) {
	start := time.Now()
	log := s.cfg.Log.WithField("client", remote.String())
	if !local.IsValid() || local.IsUnspecified() || local == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		local = netip.Addr{} // let the kernel pick the source address
	}
	direct := s.takeDirect()
	if direct {
		defer s.direct.Add(-1)
		runtime.LockOSThread() // a direct link is read by this thread only
		defer runtime.UnlockOSThread()
	}
	l, err := dialLink(local, remote, direct)
	if err != nil {
		s.stats.failed.Add(1)
		log.Errorf("TFTP: cannot open a socket for %q: %v", req.Filename, err)
		return
	}
	stop := context.AfterFunc(s.ctx, l.interrupt)
	defer func() {
		stop()
		l.close()
	}()

	content, err := s.cfg.Source.Open(s.ctx, remote, req)
	if err == nil && req.Mode == "netascii" {
		content, err = toNetascii(content)
	}
	if err != nil {
		s.stats.refused.Add(1)
		code, msg := errorFor(err)
		if code == CodeNotFound {
			log.Infof("TFTP: %q requested by %s: %v", req.Filename, remote, err)
		} else {
			log.Warnf("TFTP: refused %q to %s: %v", req.Filename, remote, err)
		}
		_ = l.write(appendError(nil, code, msg))
		return
	}
	defer content.Close()

	oack, p := negotiate(req, content.Size(), &s.cfg)
	t := newTransfer(l, content, p, s.cfg.Retries)
	sent, err := t.run(oack)
	s.stats.bytes.Add(uint64(sent))
	elapsed := time.Since(start)
	var abort errClientAbort
	switch {
	case err == nil:
		s.stats.completed.Add(1)
		log.Infof("TFTP: sent %q to %s: %d bytes in %s (%.1f MB/s, blksize %d, windowsize %d, %d resent)",
			req.Filename, remote, sent, elapsed.Round(time.Microsecond), float64(sent)/1e6/max(elapsed.Seconds(), 1e-9),
			p.blockSize, p.windowSize, t.resent)
	case errors.As(err, &abort):
		// PXE ROMs often fetch tsize, then end with "option negotiation" and ask again.
		s.stats.aborted.Add(1)
		log.Infof("TFTP: %s ended the transfer of %q after %d bytes: %v", remote, req.Filename, sent, err)
	default:
		s.stats.failed.Add(1)
		log.Warnf("TFTP: transfer of %q to %s failed after %d bytes: %v", req.Filename, remote, sent, err)
		if s.ctx.Err() == nil {
			t.abort(CodeUndefined, err.Error())
		}
	}
}

// takeDirect reserves a direct link (see directLink) while fewer than
// Config.DirectLinks are in use; the default GOMAXPROCS-1 keeps a P free for the rest.
func (s *Server) takeDirect() bool {
	limit := int64(s.cfg.DirectLinks)
	if limit == 0 {
		limit = int64(runtime.GOMAXPROCS(0) - 1)
	}
	for {
		n := s.direct.Load()
		if n >= limit {
			return false
		}
		if s.direct.CompareAndSwap(n, n+1) {
			return true
		}
	}
}
