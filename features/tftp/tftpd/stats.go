package tftpd

import "sync/atomic"

// Stats are the server's counters since it started.
type Stats struct {
	Requests  uint64 // read requests accepted for processing
	Completed uint64 // transfers the client fully acknowledged
	Aborted   uint64 // transfers the client ended with an ERROR packet
	Failed    uint64 // transfers that timed out or hit an I/O error
	Refused   uint64 // malformed, write, not found, access violation, server busy
	BytesSent uint64 // content bytes acknowledged by clients
	Active    int64  // transfers running now
}

type counters struct {
	requests, completed, aborted, failed, refused, bytes atomic.Uint64
	active                                               atomic.Int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Requests: c.requests.Load(), Completed: c.completed.Load(), Aborted: c.aborted.Load(),
		Failed: c.failed.Load(), Refused: c.refused.Load(), BytesSent: c.bytes.Load(), Active: c.active.Load(),
	}
}
