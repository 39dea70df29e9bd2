// Package foremanclient is the proxy's HTTP client to the Foreman core, shared by the
// features that relay hosts' requests to it (templates, registration; spec §5.4, §5.9):
// one keep-alive connection pool per foreman_url and TLS identity, no redirects followed,
// and the rules for which request headers and bodies travel along.
package foremanclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/settings"
)

// ErrNoForemanURL is why a relay feature cannot run without :foreman_url:.
var ErrNoForemanURL = errors.New("missing :foreman_url: from configuration")

// responseHeaderTimeout bounds how long Foreman may take to render a template; the Ruby
// proxy's Net::HTTP read timeout is the same 60 seconds.
const responseHeaderTimeout = 60 * time.Second

// Client sends requests to paths below foreman_url.
type Client struct {
	base *url.URL // foreman_url, ending in "/"
	http *http.Client
}

// New builds a client from the global settings: foreman_url, and the foreman_ssl_* files
// (falling back to ssl_*) for TLS. It reads the certificate files now, so a bad file
// fails the feature at start rather than the first host's request.
func New(g *settings.Global) (*Client, error) {
	if g.ForemanURL == "" {
		return nil, fmt.Errorf("%s: %w", g.File, ErrNoForemanURL)
	}
	base, err := url.Parse(g.ForemanURL)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("%s: :foreman_url: %q must be an http or https URL", g.File, g.ForemanURL)
	}
	ca, cert, key := g.ForemanClientTLS()
	tlsConf, err := tlsclient.Config(ca, cert, key)
	if err != nil {
		return nil, fmt.Errorf("%s: TLS to Foreman: %w", g.File, err)
	}
	transport := tlsclient.Transport(tlsConf, responseHeaderTimeout)
	transport.Proxy = http.ProxyFromEnvironment // as Ruby's Net::HTTP honours http_proxy
	return &Client{
		base: base,
		http: &http.Client{
			Transport: transport,
			// Foreman's answer is relayed as it is; following a redirect would resend the
			// host's headers (Authorization) to wherever Location points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

var (
	sharedMu sync.Mutex
	shared   = map[sharedKey]*Client{}
)

type sharedKey struct{ url, ca, cert, key string }

// Shared returns the one client for these settings, so every relay feature of the
// process reuses the same keep-alive connections to Foreman.
func Shared(g *settings.Global) (*Client, error) {
	ca, cert, key := g.ForemanClientTLS()
	k := sharedKey{g.ForemanURL, ca, cert, key}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c := shared[k]; c != nil {
		return c, nil
	}
	c, err := New(g)
	if err != nil {
		return nil, err
	}
	shared[k] = c
	return c, nil
}

// Host is Foreman's host name, as relay error messages name it.
func (c *Client) Host() string { return c.base.Hostname() }

// Request is one call to Foreman.
type Request struct {
	Method string
	// Path is escaped and relative to foreman_url ("unattended/provision"), so a
	// foreman_url with a path prefix keeps it.
	Path   string
	Query  url.Values
	Header http.Header
	Body   io.Reader
	// ContentLength of Body; -1 when unknown (then the body is sent chunked).
	ContentLength int64
}

// Do sends req. The caller closes the response body.
func (c *Client) Do(ctx context.Context, req Request) (*http.Response, error) {
	target := c.base.String() + req.Path
	if q := req.Query.Encode(); q != "" {
		target += "?" + q
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, target, req.Body)
	if err != nil {
		return nil, fmt.Errorf("building request %s %s: %w", req.Method, target, err)
	}
	if req.Header != nil {
		hr.Header = req.Header.Clone()
	}
	if req.Body != nil && req.ContentLength >= 0 {
		hr.ContentLength = req.ContentLength
		if req.ContentLength == 0 {
			hr.Body = http.NoBody
		}
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err // a *url.Error: names method, URL and cause
	}
	return resp, nil
}
