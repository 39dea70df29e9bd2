// Package fakeforeman stands in for the Foreman core in tests of the relay features:
// a real HTTP(S) server on 127.0.0.1 that records every request it gets (method, path,
// query, headers, body, the client certificate seen over TLS) and answers what the
// test says. Its certificates come from a testpki CA.
package fakeforeman

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

// Request is what the fake Foreman saw.
type Request struct {
	Method     string
	Path       string // decoded
	RawPath    string // as sent, escapes kept
	Query      url.Values
	RawQuery   string
	Header     http.Header
	Body       string
	ClientCN   string // subject CN of the verified client certificate, "" without one
	RemoteAddr string
}

// Reply is the answer the fake Foreman gives.
type Reply struct {
	Status      int
	ContentType string
	Body        string
}

// Server is a running fake Foreman.
type Server struct {
	URL string // base URL ending in "/", ready for :foreman_url:

	mu          sync.Mutex
	requests    []Request
	reply       Reply
	connections int
}

// Options chooses plain HTTP (CA nil) or HTTPS with a server certificate from CA, and
// whether the client must show a certificate from the same CA.
type Options struct {
	CA                *testpki.CA
	RequireClientCert bool
}

// Start serves on 127.0.0.1 until the test ends. It answers 200 "OK" (text/plain)
// until SetReply says otherwise.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{reply: Reply{Status: http.StatusOK, ContentType: "text/plain", Body: "OK"}}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.connections++
			s.mu.Unlock()
		}
	}
	if opts.CA == nil {
		hs.Start()
	} else {
		server := opts.CA.IssueLoopback(t, "foreman.test")
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLS}, ClientCAs: opts.CA.Pool, ClientAuth: tls.VerifyClientCertIfGiven}
		if opts.RequireClientCert {
			hs.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		hs.StartTLS()
	}
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/"
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	seen := Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		RawPath:    r.URL.EscapedPath(),
		Query:      r.URL.Query(),
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		Body:       string(body),
		RemoteAddr: r.RemoteAddr,
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		seen.ClientCN = r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	s.mu.Lock()
	s.requests = append(s.requests, seen)
	reply := s.reply
	s.mu.Unlock()
	if reply.ContentType != "" {
		w.Header().Set("Content-Type", reply.ContentType)
	}
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}

// SetReply changes the answer to every following request.
func (s *Server) SetReply(r Reply) {
	s.mu.Lock()
	s.reply = r
	s.mu.Unlock()
}

// Requests returns every request seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the latest request and fails the test when there was none.
func (s *Server) Last(t testing.TB) Request {
	t.Helper()
	reqs := s.Requests()
	if len(reqs) == 0 {
		t.Fatal("fake Foreman got no request")
	}
	return reqs[len(reqs)-1]
}

// Connections counts the TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// ClosedURL returns an http URL on 127.0.0.1 where nothing listens, for connection
// errors.
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}
