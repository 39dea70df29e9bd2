package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/testpki"
)

// tls12Suites are every TLS 1.2 suite Go can offer, by OpenSSL name.
var tls12Suites = map[uint16]string{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
}

// TestTLSCipherSuites offers the https listener every TLS 1.2 suite, one at a time,
// with an RSA and with an ECDSA server certificate: only ECDHE with AES-GCM or
// ChaCha20-Poly1305 is accepted (Mozilla "intermediate"), ssl_disabled_ciphers takes
// suites away from that, and TLS 1.3 is unchanged.
func TestTLSCipherSuites(t *testing.T) {
	ecdsaPKI := newPKI(t)
	rsaPKI := *ecdsaPKI
	rsaPKI.server = ecdsaPKI.ca.Issue(t, testpki.Spec{CN: "rsa.localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, RSA: true})

	for _, tc := range []struct {
		name     string
		pki      *pki
		extra    string
		accepted []string
	}{
		{"RSA certificate", &rsaPKI, "",
			[]string{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}},
		{"ECDSA certificate", ecdsaPKI, "",
			[]string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"}},
		{"RSA certificate with ssl_disabled_ciphers", &rsaPKI,
			":ssl_disabled_ciphers: [ECDHE-RSA-AES256-GCM-SHA384, AES128-SHA]\n",
			[]string{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px := startProxy(t, tc.pki, tc.extra, nil)
			addr := strings.TrimPrefix(px.httpsURL, "https://")
			for id, name := range tls12Suites {
				want := contains(tc.accepted, name)
				conf := &tls.Config{RootCAs: tc.pki.ca.Pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{id}}
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
				if err == nil {
					got := conn.ConnectionState().CipherSuite
					conn.Close()
					if !want || got != id {
						t.Errorf("%s: handshake succeeded with %s, want it refused", name, tls.CipherSuiteName(got))
					}
				} else if want {
					t.Errorf("%s: refused (%v), want accepted", name, err)
				} else if !strings.Contains(err.Error(), "handshake failure") {
					t.Errorf("%s: %v, want the server's handshake failure alert", name, err)
				}
				opensslSuite(t, addr, name, want)
			}
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: tc.pki.ca.Pool, MinVersion: tls.VersionTLS13})
			if err != nil {
				t.Fatalf("TLS 1.3: %v", err)
			}
			conn.Close()
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// opensslSuite checks the suite with `openssl s_client -tls1_2 -cipher NAME`, when
// openssl is installed and its build still has the suite.
func opensslSuite(t *testing.T, addr, name string, want bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return
	}
	if exec.Command(bin, "ciphers", "-s", "-tls1_2", name+":@SECLEVEL=0").Run() != nil {
		return // not in this OpenSSL build (3DES, for instance)
	}
	cmd := exec.Command(bin, "s_client", "-connect", addr, "-tls1_2", "-cipher", name+":@SECLEVEL=0", "-brief")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	accepted := err == nil && strings.Contains(string(out), "Ciphersuite: "+name)
	if accepted != want {
		t.Errorf("openssl s_client -tls1_2 -cipher %s: accepted=%v, want %v\n%s", name, accepted, want, out)
	}
}
