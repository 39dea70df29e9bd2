package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/revocation"
	"github.com/smartproxy/smartproxy/settings"
)

// authorize is the pair of before-filters of spec §3: on https a verified client
// certificate is required, and when trusted_hosts is set the client's name (certificate
// CN or any DNS SAN on https; reverse+forward DNS on http) must be listed.
func (s *Server) authorize(https bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			var names []string
			if https {
				if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
					return deny(c, "No client SSL certificate supplied")
				}
				names = certificateNames(req.TLS.PeerCertificates[0])
			}
			trusted := s.opts.Global.TrustedHosts
			if trusted == nil {
				return next(c)
			}
			if !https {
				var err error
				if names, err = s.httpClientNames(req.Context(), httpapi.ClientIP(req)); err != nil {
					return deny(c, err.Error())
				}
			}
			for _, n := range names {
				if slices.ContainsFunc(trusted, func(t string) bool { return strings.EqualFold(t, n) }) {
					return next(c)
				}
			}
			shown := ""
			if len(names) > 0 {
				shown = names[0]
			}
			return deny(c, fmt.Sprintf("Untrusted client %s attempted to access %s. Check :trusted_hosts: in settings.yml", shown, req.URL.Path))
		}
	}
}

func deny(c echo.Context, msg string) error {
	httpapi.Error(c.Response(), c.Request(), http.StatusForbidden, msg)
	return nil
}

// certificateNames returns the subject CN and every DNS SAN, lower-cased.
func certificateNames(cert *x509.Certificate) []string {
	var out []string
	if cn := cert.Subject.CommonName; cn != "" {
		out = append(out, strings.ToLower(cn))
	}
	for _, n := range cert.DNSNames {
		out = append(out, strings.ToLower(n))
	}
	return out
}

// httpClientNames resolves an http client's address to its name and, with
// forward_verify, requires the name to resolve back to the address.
func (s *Server) httpClientNames(ctx context.Context, ip string) ([]string, error) {
	if strings.Contains(ip, "%") {
		return []string{ip}, nil // zone-scoped IPv6: the Ruby proxy uses the literal
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names, err := s.opts.Resolver.LookupAddr(ctx, ip)
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("Unable to resolve hostname for connection from %s", ip)
	}
	name := strings.ToLower(strings.TrimSuffix(names[0], "."))
	if s.opts.Global.ForwardVerify {
		addrs, err := s.opts.Resolver.LookupHost(ctx, name)
		want := net.ParseIP(ip)
		if err != nil || !slices.ContainsFunc(addrs, func(a string) bool { return net.ParseIP(a).Equal(want) }) {
			return nil, fmt.Errorf("untrusted client has no matching forward DNS lookup - %s (%s)", name, ip)
		}
	}
	return []string{name}, nil
}

// opensslCiphers maps the OpenSSL names of TLS 1.2 suites to Go's, so
// ssl_disabled_ciphers can name them. The RSA key exchange and CBC names are kept so
// that a settings.yml written for the Ruby proxy, which lists them, still loads.
var opensslCiphers = map[string]uint16{
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// defaultCiphers is the TLS 1.2 suite list, Mozilla's "intermediate" profile: ECDHE
// key exchange (forward secrecy) with an AEAD cipher only. RSA key exchange and CBC
// suites are not offered at all; ssl_disabled_ciphers removes names from this list.
// TLS 1.3 suites are not configurable in Go and are all AEAD.
var defaultCiphers = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
}

// TLSConfig builds the https listener's TLS: 1.2+ (1.3 only when tls_disabled_versions
// names 1.2), the server certificate, and client certificates requested and verified
// against ssl_ca_file but not required by the handshake (routes check, spec §1); with
// ssl_crl_file, a revoked client certificate is refused in the handshake.
func TLSConfig(g *settings.Global) (*tls.Config, error) { return tlsConfig(g, nil) }

// tlsConfig is TLSConfig with a logger for the CRL's reloads and refusals (nil: none).
func tlsConfig(g *settings.Global, log logrus.FieldLogger) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(g.SSLCertificate, g.SSLPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("loading ssl_certificate %s / ssl_private_key %s: %w", g.SSLCertificate, g.SSLPrivateKey, err)
	}
	pool, err := loadPool(g.SSLCAFile)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
	for _, v := range g.TLSDisabledVers {
		if strings.TrimSpace(v) == "1.2" {
			conf.MinVersion = tls.VersionTLS13
		}
	}
	for _, name := range defaultCiphers {
		if !slices.Contains(g.SSLDisabledCipher, name) {
			conf.CipherSuites = append(conf.CipherSuites, opensslCiphers[name])
		}
	}
	if len(conf.CipherSuites) == 0 {
		// Every TLS 1.2 suite disabled: an empty list would mean Go's defaults, so
		// TLS 1.2 is turned off instead.
		conf.MinVersion = tls.VersionTLS13
	}
	if g.SSLCRLFile != "" {
		var crlLog revocation.Logger
		if log != nil {
			crlLog = log
		}
		crl, err := revocation.Load(g.SSLCRLFile, g.SSLCAFile, crlLog)
		if err != nil {
			return nil, fmt.Errorf("ssl_crl_file: %w", err)
		}
		conf.VerifyConnection = crl.VerifyConnection
	}
	return conf, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading ssl_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ssl_ca_file %s holds no PEM certificate", path)
	}
	return pool, nil
}
