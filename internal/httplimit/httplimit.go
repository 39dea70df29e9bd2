// Package httplimit bounds what one client can make an HTTP listener hold: time to
// send a request, header and body sizes, and connections (in all and per client
// address), so that a slow or greedy client cannot take the file descriptors and
// memory the rest of the process needs. The smart proxy's listeners and the core's
// use it the same way:
//
//	limits.Apply(srv)                                   // timeouts and header size
//	ln = gate.Listener(ln)                              // connection caps
//	handler = limits.BodyLimit(limit, counters)(next)   // per-route body size
package httplimit

import (
	"fmt"
	"net/http"
	"time"
)

// Settings are the limits of one process's listeners. Zero values mean "the default"
// only where Defaults says so; call Resolve before use.
type Settings struct {
	// RequestTimeout bounds reading one whole request, headers and body, from its
	// first byte. Writing the answer is not bounded: long downloads keep going.
	RequestTimeout time.Duration
	// HeaderTimeout bounds reading the request line and headers.
	HeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers.
	MaxHeaderBytes int
	// MaxBodyBytes is the body limit of a route that does not set its own.
	MaxBodyBytes int64
	// MaxConnections caps open connections over all listeners; 0 derives it from the
	// open-files limit (ConnectionBudget).
	MaxConnections int
	// MaxConnectionsPerClient caps open connections from one client address.
	MaxConnectionsPerClient int
}

// Defaults are safe for a proxy serving Foreman and a few thousand PXE clients.
func Defaults() Settings {
	return Settings{
		RequestTimeout:          60 * time.Second,
		HeaderTimeout:           30 * time.Second,
		IdleTimeout:             2 * time.Minute,
		MaxHeaderBytes:          64 << 10,
		MaxBodyBytes:            1 << 20,
		MaxConnections:          0,
		MaxConnectionsPerClient: 256,
	}
}

// Resolve fills MaxConnections from the open-files limit when it is 0.
func (s Settings) Resolve(openFiles uint64) Settings {
	if s.MaxConnections == 0 {
		s.MaxConnections = ConnectionBudget(openFiles)
	}
	return s
}

// Apply sets the server's timeouts and header limit. http.Server.ReadTimeout covers
// the body too, and net/http clears the read deadline once the body has been read,
// so a handler that streams a large answer is never cut off by it. WriteTimeout
// stays unset for the same reason.
func (s Settings) Apply(srv *http.Server) {
	srv.ReadTimeout = s.RequestTimeout
	srv.ReadHeaderTimeout = s.HeaderTimeout
	srv.IdleTimeout = s.IdleTimeout
	srv.MaxHeaderBytes = s.MaxHeaderBytes
}

// String is the one-line summary logged at start.
func (s Settings) String() string {
	return fmt.Sprintf("request_timeout %s, header_timeout %s, idle_timeout %s, max_header_bytes %d, max_body_bytes %d, max_connections %d, max_connections_per_client %d",
		s.RequestTimeout, s.HeaderTimeout, s.IdleTimeout, s.MaxHeaderBytes, s.MaxBodyBytes, s.MaxConnections, s.MaxConnectionsPerClient)
}
