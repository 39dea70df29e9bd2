package main

import (
	"fmt"
	"io"
	"time"

	"github.com/smartproxy/smartproxy/internal/revocation"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// expiryWarning is how close to its end a server certificate makes check-config warn.
const expiryWarning = 30 * 24 * time.Hour

// checkTLS loads the https material as the server would (certificate and key that
// belong together, a CA file with certificates) and prints what is wrong; an expired
// certificate is an error, one that ends within 30 days a warning. It returns the
// number of errors.
func checkTLS(g *settings.Global, out io.Writer, now time.Time) int {
	conf, err := server.TLSConfig(g)
	if err != nil {
		fmt.Fprintln(out, "error: https:", err)
		return 1
	}
	if g.SSLCRLFile != "" {
		if crl, err := revocation.Load(g.SSLCRLFile, g.SSLCAFile, nil); err == nil {
			if w := revocation.StaleWarning("ssl_crl_file", g.SSLCRLFile, crl.NextUpdate(), now); w != "" {
				fmt.Fprintln(out, "warning: https:", w)
			}
		}
	}
	leaf := conf.Certificates[0].Leaf
	if leaf == nil {
		return 0
	}
	if now.Before(leaf.NotBefore) {
		fmt.Fprintf(out, "error: https: ssl_certificate %s is not valid before %s\n", g.SSLCertificate, leaf.NotBefore.UTC().Format(time.RFC3339))
		return 1
	}
	switch left := leaf.NotAfter.Sub(now); {
	case left <= 0:
		fmt.Fprintf(out, "error: https: ssl_certificate %s expired on %s\n", g.SSLCertificate, leaf.NotAfter.UTC().Format(time.DateOnly))
		return 1
	case left < expiryWarning:
		fmt.Fprintf(out, "warning: https: ssl_certificate %s expires on %s, in %d days\n",
			g.SSLCertificate, leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	return 0
}
