package revocation

import (
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
)

// Guard checks the peer certificate of every request on a TLS listener whose
// tls.Config.VerifyConnection is verify: the handshake check alone lets a
// keep-alive connection opened before a revocation go on for as long as its client
// keeps it busy. A revoked peer gets 403 and the connection is closed.
func Guard(verify func(tls.ConnectionState) error, next http.Handler) http.Handler {
	if verify == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			if err := verify(*r.TLS); err != nil {
				w.Header().Set("Connection", "close")
				http.Error(w, "SSL certificate revoked", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// CheckReused is the client side of Guard: a trace whose GotConn checks a reused
// connection's server certificate with verify before the request is written, and
// closes the connection if it fails (revoked reports why), so a request never
// reaches a server revoked since its handshake. New connections are checked by the
// handshake itself.
func CheckReused(verify func(tls.ConnectionState) error, revoked func(error)) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			return
		}
		conn, ok := info.Conn.(*tls.Conn)
		if !ok {
			return
		}
		if err := verify(conn.ConnectionState()); err != nil {
			revoked(err)
			conn.Close()
		}
	}}
}
