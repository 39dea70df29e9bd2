// Package puppettest gives tests a throwaway PKI and an HTTPS server on 127.0.0.1
// that stands in for a Puppet Server: it demands a client certificate from the test
// CA, as a real one does.
package puppettest

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

// PKI is a testpki CA plus a server and a client certificate, all under Dir. The
// file fields are what settings under test name, so call sites stay one line.
type PKI struct {
	Dir        string
	CAFile     string
	ServerCert string
	ServerKey  string
	ClientCert string
	ClientKey  string

	ca     *testpki.CA
	server tls.Certificate
}

// NewPKI creates a CA, a server certificate for 127.0.0.1/localhost and a client
// certificate "proxy.test".
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca := testpki.NewCA(t, "Puppet CA: test")
	server := ca.Issue(t, testpki.Spec{CN: "puppet.test", DNSNames: []string{"localhost", "puppet.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	client := ca.Issue(t, testpki.Spec{CN: "proxy.test", DNSNames: []string{"proxy.test"}})
	return &PKI{
		Dir:        ca.Dir,
		CAFile:     ca.CAFile,
		ServerCert: server.CertFile,
		ServerKey:  server.KeyFile,
		ClientCert: client.CertFile,
		ClientKey:  client.KeyFile,
		ca:         ca,
		server:     server.TLS,
	}
}

// Server is a started stand-in.
type Server struct {
	*httptest.Server
	// ClientNames records the CN of every client certificate that connected.
	ClientNames chan string
}

// StartServer serves handler over TLS on 127.0.0.1 with the PKI's server certificate,
// requiring a client certificate signed by the CA.
func StartServer(t testing.TB, p *PKI, handler http.Handler) *Server {
	t.Helper()
	s := &Server{ClientNames: make(chan string, 1024)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			select {
			case s.ClientNames <- r.TLS.PeerCertificates[0].Subject.CommonName:
			default:
			}
		}
		handler.ServeHTTP(w, r)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}
