package relay_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/features/relay"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// received is one request as the stand-in core saw it.
type received struct {
	Method, Target string
	Header         http.Header
	Body           string
	PeerCN         string // the client certificate the last hop presented
	RemoteAddr     string
}

// standInCore plays the core behind the relays over real TLS: it requires a client
// certificate of the CA, records every request, answers /node/<certname> with a YAML
// ENC, and stores a request with an Idempotency-Key once, as the core does.
type standInCore struct {
	srv *httptest.Server

	mu         sync.Mutex
	all        []received // every request, repeats included
	stored     []received // first arrival per idempotency key
	seenKeys   map[string]bool
	repeats    int
	failStatus int // when set, answer it to everything
}

func newStandInCore(t *testing.T, ca *testpki.CA) *standInCore {
	t.Helper()
	return newStandInCoreWith(t, ca.IssueLoopback(t, "core").TLS, ca.Pool)
}

// newStandInCoreWith is a stand-in core presenting cert and trusting clients of pool.
func newStandInCoreWith(t *testing.T, cert tls.Certificate, pool *x509.CertPool) *standInCore {
	t.Helper()
	c := &standInCore{seenKeys: map[string]bool{}}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *standInCore) URL() string { return c.srv.URL }

func (c *standInCore) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := received{Method: r.Method, Target: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body), RemoteAddr: r.RemoteAddr}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		got.PeerCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	c.mu.Lock()
	c.all = append(c.all, got)
	fail := c.failStatus
	key := r.Header.Get(relay.IdempotencyKeyHeader)
	repeat := key != "" && c.seenKeys[key]
	if fail == 0 {
		if repeat {
			c.repeats++
		} else {
			c.stored = append(c.stored, got)
			if key != "" {
				c.seenKeys[key] = true
			}
		}
	}
	c.mu.Unlock()
	if fail != 0 {
		http.Error(w, "failing on purpose", fail)
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/node/"):
		name := strings.TrimPrefix(r.URL.Path, "/node/")
		if name == "unknown.example.test" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "---\nparameters:\n  foreman_fqdn: "+name+"\nclasses:\n  motd:\n")
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":1}`)
	default:
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "core answered "+r.Method+" "+r.URL.RequestURI())
	}
}

func (c *standInCore) requests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.all...)
}

func (c *standInCore) storedRequests() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.stored...)
}

func (c *standInCore) setFail(status int) {
	c.mu.Lock()
	c.failStatus = status
	c.mu.Unlock()
}

// deadURL is an https URL nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}
