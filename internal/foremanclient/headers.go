package foremanclient

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
)

// ForemanAccept is what the Ruby proxy asks Foreman for on every relayed request.
const ForemanAccept = "application/json,version=2"

// notRelayed are request headers that stay on this hop: hop-by-hop headers (RFC 9110
// §7.6.1), those the client transport sets itself (Host, lengths, compression; the
// Content-Type is chosen per relay), and those claiming a client address, which only
// the proxy may vouch for: Foreman finds a host without a token by the address in
// X-Forwarded-For, so a host must not be able to name another host's address.
var notRelayed = map[string]bool{
	"Host":                true,
	"Version":             true, // the Ruby proxy drops HTTP_VERSION too
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Content-Type":        true,
	"Accept-Encoding":     true,
	"X-Forwarded-For":     true,
	"Forwarded":           true,
	"X-Real-Ip":           true,
	"Client-Ip":           true,
}

// RelayHeaders returns the headers to send Foreman for the host's request r: every
// header the host sent (X-RHN-Provisioning-MAC-0, Authorization, X-Request-Id, ...)
// except those above, Accept led by ForemanAccept, and X-Forwarded-For carrying the
// address of the host that connected to the proxy.
func RelayHeaders(r *http.Request) http.Header {
	dropped := map[string]bool{}
	for _, v := range r.Header.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			dropped[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	out := http.Header{}
	for name, values := range r.Header {
		if notRelayed[name] || dropped[name] {
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	out["Accept"] = append([]string{ForemanAccept}, r.Header.Values("Accept")...)
	out.Set("X-Forwarded-For", httpapi.ClientIP(r))
	return out
}
