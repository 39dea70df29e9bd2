package puppetca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

// RunValidate is `smart-proxy puppetca-validate [--settings FILE] [--url URL] CERTNAME`:
// Puppet Server's policy-based autosign executable. It reads the CSR on stdin, posts
// it to this proxy's POST /puppet/ca/validate with the proxy's own client certificate,
// and exits 0 when the proxy says sign (200) and 1 otherwise, so a failure of any
// kind leaves the request pending. Point puppet.conf's `autosign` at a wrapper
// script that runs it (Puppet passes only the certname).
func RunValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("puppetca-validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("settings", "/etc/foreman-proxy/settings.yml", "path of the proxy's settings.yml")
	base := fs.String("url", "", "proxy base URL (default: from settings.yml and puppetca.yml)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the proxy")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: smart-proxy puppetca-validate [--settings FILE] [--url URL] CERTNAME < csr.pem")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	certname := fs.Arg(0)
	refuse := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "puppetca-validate %s: %s\n", certname, fmt.Sprintf(format, a...))
		return 1
	}
	csr, err := io.ReadAll(io.LimitReader(stdin, maxCSR+1))
	switch {
	case err != nil:
		return refuse("reading the CSR from stdin: %v", err)
	case len(bytes.TrimSpace(csr)) == 0:
		return refuse("no CSR on stdin (Puppet Server passes the PEM certificate request there)")
	case len(csr) > maxCSR:
		return refuse("the CSR on stdin is larger than %d bytes", maxCSR)
	}
	target, client, err := validateClient(*path, *base)
	if err != nil {
		return refuse("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(csr))
	if err != nil {
		return refuse("%v", err)
	}
	// Not the form type: the proxy would parse the PEM as a form.
	req.Header.Set("Content-Type", "application/pkcs10")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return refuse("calling the smart proxy: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusOK:
		return 0
	case http.StatusNotFound:
		return refuse("the smart proxy refused the CSR (no valid token)")
	}
	return refuse("the smart proxy answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
}

// validateClient works out where the proxy listens and how to reach it, the way the
// Ruby proxy's autosign script does: puppetca.yml's :enabled: picks https or http,
// settings.yml gives the port, certificates and (first specific) bind_host.
func validateClient(settingsPath, base string) (string, *http.Client, error) {
	global, err := settings.LoadGlobal(settingsPath, func(string) {})
	if err != nil {
		return "", nil, err
	}
	if base == "" {
		if base, err = proxyBaseURL(global); err != nil {
			return "", nil, err
		}
	}
	transport := &http.Transport{Proxy: nil}
	if strings.HasPrefix(base, "https:") {
		conf, err := clientTLS(global)
		if err != nil {
			return "", nil, err
		}
		transport.TLSClientConfig = conf
	}
	return strings.TrimSuffix(base, "/") + "/puppet/ca/validate", &http.Client{Transport: transport}, nil
}

func proxyBaseURL(g *settings.Global) (string, error) {
	sec, err := settings.Load(g.ModuleFile("puppetca"))
	if err != nil {
		return "", err
	}
	enabled := sec.Enabled(settings.EnabledNone)
	if err := sec.Err(); err != nil {
		return "", err
	}
	scheme, port := "", 0
	switch {
	case enabled.HTTPS() && g.HTTPSEnabled():
		scheme, port = "https", g.HTTPSPort
	case enabled.HTTP() && g.HTTPEnabled():
		scheme, port = "http", g.HTTPPort
	case !enabled.Any():
		return "", errors.New("PuppetCA smart-proxy module is not enabled")
	default:
		return "", errors.New("puppetca is enabled only on a listener settings.yml does not open")
	}
	host := ""
	for _, h := range g.BindHost {
		if h != "" && h != "*" && h != "0.0.0.0" && h != "::" && h != "[::]" {
			host = strings.Trim(h, "[]")
			break
		}
	}
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("finding this host's name: %w", err)
		}
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func clientTLS(g *settings.Global) (*tls.Config, error) {
	if g.SSLCertificate == "" || g.SSLPrivateKey == "" || g.SSLCAFile == "" {
		return nil, errors.New("settings.yml lacks :ssl_certificate:, :ssl_private_key: or :ssl_ca_file:")
	}
	pair, err := tls.LoadX509KeyPair(g.SSLCertificate, g.SSLPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("loading the proxy's certificate: %w", err)
	}
	ca, err := os.ReadFile(g.SSLCAFile)
	if err != nil {
		return nil, fmt.Errorf("reading ssl_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("ssl_ca_file %s holds no PEM certificate", g.SSLCAFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
