package revocation_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/revocation"
)

// A keep-alive connection opened before a revocation: the next request on it is
// refused (both directions), not only the next handshake.
func TestRevocationCutsOpenConnections(t *testing.T) {
	c := newCA(t, "Test CA")
	server, client := issue(t, c, "server.example.com"), issue(t, c, "client.example.com")
	list, err := revocation.Load(c.CRLPath(), caFile(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	serverCert, _ := tls.LoadX509KeyPair(server.CertFile, server.KeyFile)
	clientCert, _ := tls.LoadX509KeyPair(client.CertFile, client.KeyFile)

	var served atomic.Int32
	srv := httptest.NewUnstartedServer(revocation.Guard(list.VerifyConnection, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	})))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool,
		ClientAuth: tls.VerifyClientCertIfGiven, VerifyConnection: list.VerifyConnection}
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()

	// The client checks the server against the same CRL, as a relay does its hop.
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "server.example.com", Certificates: []tls.Certificate{clientCert},
		VerifyConnection: list.VerifyConnection}
	get := func(hc *http.Client) (int, string, error) {
		var revoked error
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(),
			revocation.CheckReused(clientTLS.VerifyConnection, func(err error) { revoked = err })))
		resp, err := hc.Do(req)
		if err != nil {
			if revoked != nil {
				return 0, "", revoked
			}
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	for range 3 {
		if status, body, err := get(hc); err != nil || status != 200 || body != "ok" {
			t.Fatalf("before the revocation: %d %q %v", status, body, err)
		}
	}
	if conns.Load() != 1 {
		t.Fatalf("the test needs one kept-alive connection, the client opened %d", conns.Load())
	}

	// The client's certificate revoked: its open connection gets 403 and is closed.
	if _, err := c.Revoke("client.example.com", 0); err != nil {
		t.Fatal(err)
	}
	touchLater(t, c.CRLPath())
	before := served.Load()
	status, body, err := get(hc)
	if err != nil || status != http.StatusForbidden || body != "SSL certificate revoked\n" {
		t.Fatalf("revoked client on its open connection: %d %q %v", status, body, err)
	}
	if _, _, err := get(hc); err == nil {
		t.Fatal("revoked client got a new connection")
	}
	if served.Load() != before {
		t.Fatal("a request of a revoked client reached the handler")
	}

	// The server's certificate revoked: a client holding an open connection to it
	// does not send the request.
	valid := issue(t, c, "other-client.example.com")
	validCert, _ := tls.LoadX509KeyPair(valid.CertFile, valid.KeyFile)
	clientTLS.Certificates = []tls.Certificate{validCert}
	hc = &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	if status, _, err := get(hc); err != nil || status != 200 {
		t.Fatalf("a valid client: %d %v", status, err)
	}
	if _, err := c.Revoke("server.example.com", 0); err != nil {
		t.Fatal(err)
	}
	touchLater(t, c.CRLPath())
	before = served.Load()
	if _, _, err := get(hc); !errors.Is(err, revocation.ErrRevoked) {
		t.Fatalf("request to a server revoked since the handshake: %v, want ErrRevoked", err)
	}
	if served.Load() != before {
		t.Fatal("the request reached a revoked server")
	}
}

// touchLater moves the file's time forward, so a reload keyed on (size, mtime) sees
// the rewrite even within the filesystem's time granularity.
func touchLater(t *testing.T, path string) {
	t.Helper()
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}
