// Package proxies is the core's client of smart proxies: feature discovery (spec §6.3)
// and the calls Foreman makes per feature (§6.2), over https with the core's client
// certificate, as Foreman's ProxyAPI::Resource does (§6.1).
package proxies

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// maxBody bounds what is read from a proxy, so a broken proxy cannot exhaust the core.
// The largest legitimate answer is the log buffer (a few MB at most).
const maxBody = 64 << 20

// Client talks to smart proxies. It is safe for concurrent use.
type Client struct {
	http *http.Client
}

// NewClient returns a client presenting tlsConf (the core's client certificate and the
// CA it trusts) to https proxies; plain http proxies get no client authentication.
// timeout is proxy_request_timeout and bounds each whole request.
func NewClient(tlsConf *tls.Config, timeout time.Duration) *Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per proxy: with more concurrent host
	// creates every other call would open a new connection (and TLS handshake).
	transport.MaxIdleConnsPerHost = 64
	if tlsConf != nil {
		transport.TLSClientConfig = tlsConf.Clone()
	}
	return &Client{http: &http.Client{Transport: transport, Timeout: timeout}}
}

type requestIDKey struct{}

// WithRequestID makes calls with ctx carry id as X-Request-Id, so the core's request
// and the proxy's log lines can be matched. Without it each call gets a fresh id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return id
	}
	return uuid.NewString()
}

// ProxyError is a non-2xx answer of a proxy.
type ProxyError struct {
	Status int
	Body   string
	URL    string
}

func (e *ProxyError) Error() string { return e.Reason() + " for proxy " + e.URL }

// Reason is the status with the proxy's message: "404 Not Found (Invalid MAC address: zz)".
func (e *ProxyError) Reason() string {
	msg := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	// The proxy's error bodies are one-line messages, worth showing; a long body (an
	// HTML page from something else) is not.
	if body := strings.TrimSpace(e.Body); body != "" && len(body) <= 200 && !strings.Contains(body, "\n") {
		msg += " (" + body + ")"
	}
	return msg
}

// endpoint joins the proxy's registered URL (trailing "/" ignored) and a path.
func endpoint(proxyURL, path string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(proxyURL, "/"))
	if err != nil {
		return "", fmt.Errorf("invalid proxy URL %q: %w", proxyURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("invalid proxy URL %q: must be http:// or https:// with a host", proxyURL)
	}
	return u.String() + "/" + strings.TrimPrefix(path, "/"), nil
}

// Do calls a proxy: path is appended to proxyURL (it may carry a query), form (may be
// nil) is sent form-encoded, with arrays as key[]=v as Foreman sends them (url.Values
// {"related_macs[]": {...}}). It returns the body of a 2xx answer; any other answer is
// a *ProxyError, a failed exchange the transport's error.
func (c *Client) Do(ctx context.Context, method, proxyURL, path string, form url.Values) ([]byte, error) {
	target, err := endpoint(proxyURL, path)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Request-Id", requestID(ctx))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", target, err)
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("the answer of %s is larger than %d bytes", target, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &ProxyError{Status: resp.StatusCode, Body: string(data), URL: target}
	}
	return data, nil
}

// cause is what went wrong without the "Get <url>:" prefix of *url.Error, for messages
// that name the URL themselves.
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
