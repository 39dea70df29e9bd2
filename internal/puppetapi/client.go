// Package puppetapi is the HTTP client the puppet and puppetca features share to reach
// a Puppet Server: the puppet_url and puppet_ssl_* settings, TLS from those files,
// keep-alive connection reuse, and errors that keep the server's status and message
// so the features can map them.
package puppetapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// maxBody bounds what we read from the Puppet Server; class listings of big code
// trees are a few MiB.
const maxBody = 64 << 20

// TLSFiles names the CA bundle and the optional client certificate and key.
type TLSFiles struct {
	CA, Cert, Key string
}

// Client talks to one Puppet Server.
type Client struct {
	base *url.URL
	http *http.Client
}

// New builds a client for baseURL ("https://puppet.example.com:8140"). With a CA
// bundle the server is verified against it, otherwise against the system roots; a
// client certificate is presented when both Cert and Key are set.
func New(baseURL string, files TLSFiles) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("puppet_url %q is not a URL with a scheme and host", baseURL)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if files.CA != "" {
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			return nil, fmt.Errorf("reading puppet_ssl_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("puppet_ssl_ca %s holds no PEM certificate", files.CA)
		}
		conf.RootCAs = pool
	}
	if files.Cert != "" && files.Key != "" {
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			return nil, fmt.Errorf("loading puppet_ssl_cert %s / puppet_ssl_key %s: %w", files.Cert, files.Key, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	transport := &http.Transport{
		Proxy:               nil, // the Puppet Server is reached directly, as the Ruby proxy does
		TLSClientConfig:     conf,
		TLSHandshakeTimeout: 15 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     50 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &Client{base: u, http: &http.Client{Transport: transport}}, nil
}

// URL is the server's base URL as configured.
func (c *Client) URL() string { return c.base.String() }

// Response is a finished exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request. escapedPath (segments already escaped with url.PathEscape)
// is joined to the base URL's path; query may be nil. A non-nil body is sent as JSON.
// Any status is returned as a Response; only transport failures are errors.
func (c *Client) Do(ctx context.Context, method, escapedPath string, query url.Values, body []byte, header http.Header) (*Response, error) {
	base := *c.base
	base.RawQuery, base.Fragment = "", ""
	u, err := url.Parse(strings.TrimSuffix(base.String(), "/") + "/" + strings.TrimPrefix(escapedPath, "/"))
	if err != nil {
		return nil, fmt.Errorf("building the URL of %s: %w", escapedPath, err)
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fmt.Errorf("building %s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the reply to %s %s: %w", method, u.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// CloseIdle drops pooled connections (on feature stop).
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// StatusError is an unexpected status from the Puppet Server.
type StatusError struct {
	What   string // what we were doing, e.g. "Failed to query Puppet CA search v1 API"
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	body := strings.TrimSpace(e.Body)
	if len(body) > 512 {
		body = body[:512] + "..."
	}
	if body == "" {
		return fmt.Sprintf("%s: HTTP %d", e.What, e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.What, e.Status, body)
}

// Unexpected wraps resp as a StatusError.
func Unexpected(what string, resp *Response) error {
	return &StatusError{What: what, Status: resp.Status, Body: string(resp.Body)}
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
