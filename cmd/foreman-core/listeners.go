package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/config"
	"github.com/smartproxy/smartproxy/internal/httplimit"
	"github.com/smartproxy/smartproxy/internal/revocation"
)

// maxBodyBytes bounds request bodies: a Puppet fact upload is the largest legitimate
// one (a few hundred KB).
const maxBodyBytes = 10 << 20

// listeners are the running http and https servers.
type listeners struct {
	servers []*http.Server
	addrs   []string
	errors  chan error
}

// serverTLS is the https listener's TLS: the server certificate, client certificates
// verified against client_ca_file when given (proxies and Puppet servers present
// them; users and the installer do not) and refused when client_crl_file revokes
// them, TLS 1.2+ with ECDHE and AEAD suites only. log (may be nil) hears CRL reloads.
func serverTLS(cfg *config.Config, log *logrus.Logger) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.ServerCertificate, cfg.ServerPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("loading server_certificate %s with server_private_key %s: %w", cfg.ServerCertificate, cfg.ServerPrivateKey, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	pem, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("reading client_ca_file %s: %w", cfg.ClientCAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client_ca_file %s holds no PEM certificate", cfg.ClientCAFile)
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{ // TLS 1.2; TLS 1.3 suites are all AEAD and not configurable
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if cfg.ClientCRLFile != "" {
		var crlLog revocation.Logger
		if log != nil {
			crlLog = log
		}
		crl, err := revocation.Load(cfg.ClientCRLFile, cfg.ClientCAFile, crlLog)
		if err != nil {
			return nil, fmt.Errorf("client_crl_file: %w", err)
		}
		conf.VerifyConnection = crl.VerifyConnection
	}
	return conf, nil
}

// startListeners binds every configured listener (all or none: a failure closes the
// ones already bound) and serves app on them behind the shared connection limits.
func startListeners(cfg *config.Config, app http.Handler, log *logrus.Logger) (*listeners, error) {
	limits := httplimit.Defaults()
	limits.MaxBodyBytes = maxBodyBytes
	files, err := httplimit.RaiseFileLimit()
	if err != nil {
		log.Warnf("Could not raise the open files limit (soft %d, hard %d): %v", files.Soft, files.Hard, err)
	}
	limits = limits.Resolve(files.Soft)
	log.Infof("HTTP limits: %s", limits)
	gate := httplimit.NewGate(limits)
	var refusals httplimit.Refusals
	handler := httplimit.BodyLimit(limits.MaxBodyBytes, &refusals, refuseJSON)(app)

	l := &listeners{errors: make(chan error, 2)}
	type pending struct {
		ln  net.Listener
		srv *http.Server
	}
	var started []pending
	fail := func(err error) (*listeners, error) {
		for _, p := range started {
			p.ln.Close()
		}
		return nil, err
	}
	if addr := cfg.HTTPSAddr(); addr != "" {
		tlsConf, err := serverTLS(cfg, log)
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("https listener: %w", err))
		}
		srv := &http.Server{Handler: revocation.Guard(tlsConf.VerifyConnection, handler), TLSConfig: tlsConf, ErrorLog: nil}
		limits.Apply(srv)
		started = append(started, pending{tls.NewListener(gate.Listener(ln), tlsConf), srv})
		l.addrs = append(l.addrs, "https://"+ln.Addr().String())
	}
	if addr := cfg.HTTPAddr(); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("http listener: %w", err))
		}
		srv := &http.Server{Handler: handler}
		limits.Apply(srv)
		started = append(started, pending{gate.Listener(ln), srv})
		l.addrs = append(l.addrs, "http://"+ln.Addr().String())
	}
	for _, p := range started {
		l.servers = append(l.servers, p.srv)
		go func() {
			if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				l.errors <- err
			}
		}()
	}
	return l, nil
}

// refuseJSON answers a body the limits refused in Foreman's error layout.
func refuseJSON(w http.ResponseWriter, _ *http.Request, e *httplimit.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": e.Message}})
}

func (l *listeners) describe() string { return strings.Join(l.addrs, " and ") }

// shutdown stops accepting and lets in-flight requests finish.
func (l *listeners) shutdown(ctx context.Context) error {
	var errs []error
	for _, s := range l.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
