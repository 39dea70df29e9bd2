package tlsclient

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Transport is the connection pool of a long-lived client of one busy server (Foreman,
// the next relay hop): bounded connect and handshake, responseHeader for the server's
// own work, and enough idle connections kept that a rack of installers asking at once
// does not open a connection each.
func Transport(conf *tls.Config, responseHeader time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       conf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseHeader,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
}
