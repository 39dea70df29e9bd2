package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/revocation"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
)

// IdempotencyKeyHeader carries the key of a queued request to the next hop. A relay
// keeps a key it received (the request already passed a relay) and makes one
// otherwise; the core stores a request once per key.
const IdempotencyKeyHeader = "Idempotency-Key"

// StaleHeader marks an ENC answer served from the relay's cache because the core
// could not be reached.
const StaleHeader = "X-Relay-Stale"

// hop is a client to one next hop (the next relay or the core, or a downstream proxy):
// TLS with this relay's own client certificate, keep-alive, no redirects.
type hop struct {
	base *url.URL // without a trailing "/"
	http *http.Client
	// verify is the CRL check of the hop's certificate (nil: no CRL), also run on
	// reused connections so a revocation cuts an open one.
	verify func(tls.ConnectionState) error
}

// hopTLS is a relay's TLS towards its hops: the CA, its own certificate, and a CRL
// ("" = none) that the hop's server certificate is checked against.
type hopTLS struct {
	ca, cert, key, crl string
	log                revocation.Logger
}

func newHop(rawURL string, id hopTLS, timeout time.Duration) (*hop, error) {
	base, err := url.Parse(strings.TrimSuffix(rawURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("%q must be an http or https URL", rawURL)
	}
	tlsConf, err := tlsclient.Config(id.ca, id.cert, id.key)
	if err != nil {
		return nil, err
	}
	if id.crl != "" {
		// A revoked relay or core is refused like a revoked client is by the listener.
		list, err := revocation.Load(id.crl, id.ca, id.log)
		if err != nil {
			return nil, fmt.Errorf("next_hop_ssl_crl: %w", err)
		}
		tlsConf.VerifyConnection = list.VerifyConnection
	}
	transport := tlsclient.Transport(tlsConf, timeout)
	return &hop{base: base, verify: tlsConf.VerifyConnection, http: &http.Client{
		Transport: transport,
		// The answer goes back as it is; following a redirect would resend the
		// request (and this relay's certificate) wherever Location points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// send issues method on target (escaped path and query, starting with "/") below the
// hop's URL. The caller closes the response body.
func (h *hop) send(ctx context.Context, method, target string, header http.Header, body io.Reader, length int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.base.String()+target, body)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, target, err)
	}
	req.Header = header
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	if h.verify == nil {
		return h.http.Do(req)
	}
	var revoked atomic.Pointer[error]
	req = req.WithContext(httptrace.WithClientTrace(ctx, revocation.CheckReused(h.verify, func(err error) { revoked.Store(&err) })))
	resp, err := h.http.Do(req)
	if err != nil {
		if why := revoked.Load(); why != nil {
			return nil, fmt.Errorf("next hop %s: %w", h.base.Host, *why)
		}
	}
	return resp, err
}

func (h *hop) close() { h.http.CloseIdleConnections() }

// hopByHop are request and response headers that stay on one connection (RFC 9110
// §7.6.1), those the transport sets itself, and the address claims a relay writes
// itself (X-Forwarded-For is rebuilt per hop).
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Host": true, "Content-Length": true, "Accept-Encoding": true,
	"X-Forwarded-For": true, "Forwarded": true, "X-Real-Ip": true, "Client-Ip": true,
	"X-Forwarded-Proto": true, "X-Forwarded-Host": true, "X-Forwarded-Port": true,
}

// forwardHeaders copies h without the hop-by-hop headers (and those Connection names).
func forwardHeaders(h http.Header) http.Header {
	dropped := map[string]bool{}
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			dropped[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	out := make(http.Header, len(h))
	for name, values := range h {
		if hopByHop[name] || dropped[name] {
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	return out
}

// queuedHeaders are the headers a queued request keeps: what the core reads to parse
// the body and to pick the API version. Everything else (User-Agent, cookies) is not
// worth a byte of the bounded queue.
var queuedHeaders = []string{"Content-Type", "Content-Encoding", "Accept", "X-Request-Id"}

// trust decides whose X-Forwarded-For is believed.
type trust struct {
	names map[string]bool // certificate CN or DNS SAN, lower case
	nets  []*net.IPNet
}

func parseTrust(entries []string) (trust, error) {
	t := trust{names: map[string]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if ip := net.ParseIP(e); ip != nil {
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			t.nets = append(t.nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		if strings.Contains(e, "/") {
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return t, fmt.Errorf("%q is neither a name, an address nor a CIDR network", e)
			}
			t.nets = append(t.nets, n)
			continue
		}
		t.names[strings.ToLower(e)] = true
	}
	return t, nil
}

// trusted reports whether r comes from a configured relay: its verified client
// certificate names one, or its address is in a listed network.
func (t trust) trusted(r *http.Request) bool {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && t.certTrusted(r.TLS.PeerCertificates[0]) {
		return true
	}
	ip := net.ParseIP(httpapi.ClientIP(r))
	for _, n := range t.nets {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

func (t trust) certTrusted(c *x509.Certificate) bool {
	if t.names[strings.ToLower(c.Subject.CommonName)] {
		return true
	}
	for _, n := range c.DNSNames {
		if t.names[strings.ToLower(n)] {
			return true
		}
	}
	return false
}

// forwardedFor is the X-Forwarded-For to send on: the incoming chain plus the caller's
// address when the caller is a trusted relay, else the caller's address alone (a
// client could write anything there).
func (t trust) forwardedFor(r *http.Request) string {
	caller := httpapi.ClientIP(r)
	if !t.trusted(r) {
		return caller
	}
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(line, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return strings.Join(append(hops, caller), ", ")
}

// setOrigin writes into out the scheme and host the client addressed: what it
// signed an OAuth request for and what URLs handed back to it must start with. A
// trusted relay's X-Forwarded-Proto/-Host (the outermost relay's address) is passed
// on; from anyone else they are replaced by this relay's own, as received.
func (t trust) setOrigin(r *http.Request, out http.Header) {
	if t.trusted(r) {
		proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host")
		if proto != "" && host != "" {
			out.Set("X-Forwarded-Proto", proto)
			out.Set("X-Forwarded-Host", host)
			return
		}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	out.Set("X-Forwarded-Proto", proto)
	out.Set("X-Forwarded-Host", r.Host)
}

// copyAnswer writes the hop's answer to w: status, end-to-end headers, body streamed.
func copyAnswer(w http.ResponseWriter, resp *http.Response) error {
	for name, values := range forwardHeaders(resp.Header) {
		w.Header()[name] = values
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", fmt.Sprint(resp.ContentLength))
	}
	w.WriteHeader(resp.StatusCode)
	_, err := io.Copy(w, resp.Body)
	return err
}
