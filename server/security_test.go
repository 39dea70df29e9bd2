package server_test

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// The suites the listener offers for TLS 1.2, and what ssl_disabled_ciphers does to
// them (the handshakes themselves are tested against the real binary in cmd/smart-proxy).
func TestTLSConfigSuites(t *testing.T) {
	ca := testpki.NewCA(t, "Suites CA")
	cert := ca.IssueLoopback(t, "proxy.example.test")
	intermediate := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	for _, tc := range []struct {
		name     string
		disabled []string
		suites   []uint16
		min      uint16
	}{
		{"default", nil, intermediate, tls.VersionTLS12},
		{"RSA key exchange names are accepted and change nothing", []string{"AES128-SHA", "AES256-GCM-SHA384"}, intermediate, tls.VersionTLS12},
		{"one disabled", []string{"ECDHE-RSA-CHACHA20-POLY1305"}, intermediate[:5], tls.VersionTLS12},
		{"all disabled leaves TLS 1.3 only", []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
			"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
			"ECDHE-RSA-CHACHA20-POLY1305"}, nil, tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := server.TLSConfig(&settings.Global{SSLCertificate: cert.CertFile, SSLPrivateKey: cert.KeyFile,
				SSLCAFile: ca.CAFile, SSLDisabledCipher: tc.disabled})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(conf.CipherSuites, tc.suites) || conf.MinVersion != tc.min {
				t.Errorf("suites %v, min version %x; want %v, %x", conf.CipherSuites, conf.MinVersion, tc.suites, tc.min)
			}
		})
	}
}
