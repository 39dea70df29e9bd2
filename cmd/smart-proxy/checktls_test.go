package main

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

// The validity window of the server certificate, seen from other days.
func TestCheckTLSValidity(t *testing.T) {
	p := newPKI(t)
	g := &settings.Global{SSLCertificate: p.server.CertFile, SSLPrivateKey: p.server.KeyFile, SSLCAFile: p.ca.CAFile}
	for _, tc := range []struct {
		name   string
		at     time.Time
		errors int
		want   string
	}{
		{"expired", time.Now().Add(48 * time.Hour), 1, `^error: https: ssl_certificate \S+ expired on \d{4}-\d\d-\d\d\n$`},
		{"not yet valid", time.Now().Add(-48 * time.Hour), 1, `^error: https: ssl_certificate \S+ is not valid before \S+\n$`},
		{"ending soon", time.Now(), 0, `^warning: https: ssl_certificate \S+ expires on \S+, in 0 days\n$`},
	} {
		var out bytes.Buffer
		if n := checkTLS(g, &out, tc.at); n != tc.errors || !regexp.MustCompile(tc.want).MatchString(out.String()) {
			t.Errorf("%s: %d errors, output %q", tc.name, n, out.String())
		}
	}
}
