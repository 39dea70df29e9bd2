package auth

import (
	"net"
	"net/http"
	"strings"
)

// ClientIP is the address of the client behind r. X-Forwarded-For is believed only
// when the direct peer is one of trusted_proxies (a relay or load balancer), and
// then only as far as the chain of trusted hops goes: walking the list from the
// right, the first address that is not a trusted proxy is the client. Anything left
// of it was written by the client itself and could be anything.
func (a *Authenticator) ClientIP(r *http.Request) string {
	peer := peerIP(r)
	client := peer
	if !a.isTrustedProxy(peer) {
		return client
	}
	hops := forwardedHops(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(hops[i])
		if ip == nil {
			break // garbage: the last hop we could vouch for is the answer
		}
		client = ip.String()
		if !a.isTrustedProxy(client) {
			break
		}
	}
	return client
}

// forwardedHops is every X-Forwarded-For entry in order, across repeated headers.
func forwardedHops(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

func (a *Authenticator) isTrustedProxy(addr string) bool {
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	for _, network := range a.trustedProxies {
		if network.Contains(ip) {
			return true
		}
	}
	return false
}
