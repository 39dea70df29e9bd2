package auth

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Origin is the scheme and host (with its port, when one was given) the client
// addressed: what it signed an OAuth request for, and what URLs the core hands back
// must start with. Behind a TLS-terminating reverse proxy (nginx, Apache) the core
// receives http://127.0.0.1:3000 while the client used https://foreman.example, so
// X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Port are believed, but only
// when the direct peer is one of trusted_proxies: from anyone else they are the
// client's own words and would let it choose the URL its signature is checked for.
// With several values (a chain of proxies) the last one, written by our peer, counts;
// a value that is not a plain http/https or host[:port] is ignored.
func (a *Authenticator) Origin(r *http.Request) (scheme, host string) {
	scheme, host = receivedOrigin(r)
	if !a.isTrustedProxy(peerIP(r)) {
		return scheme, host
	}
	if proto := strings.ToLower(lastForwarded(r.Header, "X-Forwarded-Proto")); proto == "http" || proto == "https" {
		scheme = proto
	}
	if fwd := lastForwarded(r.Header, "X-Forwarded-Host"); validHostPort(fwd) {
		host = fwd
	}
	if port := lastForwarded(r.Header, "X-Forwarded-Port"); port != "" && !hasPort(host) {
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			host = net.JoinHostPort(strings.Trim(host, "[]"), port)
		}
	}
	return scheme, host
}

// OriginURL is Origin as a URL base without a trailing slash: "https://foreman.example".
func (a *Authenticator) OriginURL(r *http.Request) string {
	scheme, host := a.Origin(r)
	return scheme + "://" + host
}

// receivedOrigin is the scheme and Host of r as this process received it.
func receivedOrigin(r *http.Request) (scheme, host string) {
	if r.TLS != nil {
		return "https", r.Host
	}
	return "http", r.Host
}

// peerIP is the address of the direct peer, without its port.
func peerIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// lastForwarded is the last comma-separated value across every header named name.
func lastForwarded(h http.Header, name string) string {
	values := h.Values(name)
	if len(values) == 0 {
		return ""
	}
	parts := strings.Split(values[len(values)-1], ",")
	return strings.TrimSpace(parts[len(parts)-1])
}

// validHostPort accepts a DNS name, an IPv4 address or a bracketed IPv6 address,
// optionally with a port: nothing that could add a path, user info or a second URL.
func validHostPort(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return false
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if strings.Contains(host, ":") { // IPv6: must have come bracketed and parse
		return net.ParseIP(host) != nil && (port != "" || strings.HasPrefix(s, "["))
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return host != ""
}

// hasPort tells whether host ends in ":port".
func hasPort(host string) bool {
	_, _, err := net.SplitHostPort(host)
	return err == nil
}
