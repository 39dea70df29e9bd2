package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/config"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/internal/revocation"
)

// expiryWarning is how close to its end a server certificate makes check-config warn.
const expiryWarning = 30 * 24 * time.Hour

// checkConfig loads the configuration without starting anything, prints every
// warning and problem, checks the https material as serve would load it, and exits
// 1 when serve would fail (0 otherwise; 2 for bad flags), like smart-proxy check-config.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "path of foreman-core.yml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var warnings []string
	cfg, err := config.Load(*path, func(w string) { warnings = append(warnings, w) })
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if err != nil {
		fmt.Fprintln(stdout, "error:", err)
		return 1
	}
	failed := 0
	// trusted_hosts entries are parsed by auth, as serve does (nothing is looked up).
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	if _, err := auth.New(authConfig(cfg, quiet), store.AuthDirectory{}, store.AuthDirectory{}); err != nil {
		fmt.Fprintln(stdout, "error:", err)
		failed++
	}
	if cfg.HTTPSAddr() != "" {
		failed += checkServerTLS(cfg, stdout, time.Now())
	}
	if cfg.HTTPSAddr() == "" && cfg.HTTPAddr() != "" {
		fmt.Fprintln(stdout, "warning: https is off: proxies and Puppet servers cannot authenticate by certificate, and passwords travel in clear over http")
	}
	fmt.Fprintf(stdout, "%-9s %s\n", "database", describeDatabase(cfg))
	for _, l := range [][2]string{{"https", cfg.HTTPSAddr()}, {"http", cfg.HTTPAddr()}} {
		if l[1] != "" {
			fmt.Fprintf(stdout, "%-9s %s\n", l[0], l[1])
		}
	}
	if failed > 0 {
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

func describeDatabase(cfg *config.Config) string {
	if config.IsPostgres(cfg.Database) {
		return "PostgreSQL " + store.Redact(cfg.Database)
	}
	return "SQLite " + cfg.Database
}

// checkServerTLS loads the https material and checks the certificate's dates.
func checkServerTLS(cfg *config.Config, out io.Writer, now time.Time) int {
	conf, err := serverTLS(cfg, nil)
	if err != nil {
		fmt.Fprintln(out, "error: https:", err)
		return 1
	}
	if cfg.ClientCRLFile != "" {
		if crl, err := revocation.Load(cfg.ClientCRLFile, cfg.ClientCAFile, nil); err == nil {
			if w := revocation.StaleWarning("client_crl_file", cfg.ClientCRLFile, crl.NextUpdate(), now); w != "" {
				fmt.Fprintln(out, "warning: https:", w)
			}
		}
	}
	leaf := conf.Certificates[0].Leaf
	if leaf == nil {
		return 0
	}
	switch left := leaf.NotAfter.Sub(now); {
	case now.Before(leaf.NotBefore):
		fmt.Fprintf(out, "error: https: server_certificate %s is not valid before %s\n", cfg.ServerCertificate, leaf.NotBefore.UTC().Format(time.RFC3339))
		return 1
	case left <= 0:
		fmt.Fprintf(out, "error: https: server_certificate %s expired on %s\n", cfg.ServerCertificate, leaf.NotAfter.UTC().Format(time.DateOnly))
		return 1
	case left < expiryWarning:
		fmt.Fprintf(out, "warning: https: server_certificate %s expires on %s, in %d days\n",
			cfg.ServerCertificate, leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	return 0
}
