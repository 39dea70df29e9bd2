// Package tlsclient builds the TLS side of the proxy's outgoing HTTPS clients from
// PEM files: to Foreman, and to a proxy from the command line tools.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Config is a client's TLS: with a CA file the server is verified against it, without
// one against the system roots (the Ruby proxy skips verification when no CA is set; a
// relay that carries hosts' tokens should not). The certificate is presented only when
// both certificate and key are set.
func Config(caFile, certFile, keyFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file %s: %w", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		conf.RootCAs = pool
	}
	if certFile != "" && keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s with key %s: %w", certFile, keyFile, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
