package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
)

const caUsage = `usage: smart-proxy ca init [--dir DIR] [--name CN] [--key-type ecdsa|rsa] [--days N] [--crl-days N]
       smart-proxy ca issue NAME [--san NAME-OR-IP[,...]]... [--dir DIR] [--out DIR] [--key-type ecdsa|rsa] [--days N] [--force]
       smart-proxy ca revoke NAME|SERIAL [--dir DIR] [--crl-days N]
       smart-proxy ca crl [--dir DIR] [--crl-days N]
       smart-proxy ca list [--dir DIR]
The CA folder (--dir, default ` + ca.DefaultDir + `) holds ca.pem, ca-key.pem, serial,
index.txt, crlnumber and crl.pem; issue writes NAME.pem and NAME-key.pem to --out
(default DIR/issued). A SERIAL is hex, as in index.txt (0x forces the serial reading).
`

// caCommand runs `smart-proxy ca ...`: the zones' certificate authority.
func caCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, caUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("smart-proxy ca "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, caUsage, "flags of ", sub, ":\n"); fs.PrintDefaults() }
	dir := fs.String("dir", ca.DefaultDir, "the CA folder")
	crlDays := 0
	if sub == "init" || sub == "revoke" || sub == "crl" {
		fs.IntVar(&crlDays, "crl-days", int(ca.DefaultCRLValidity/(24*time.Hour)), "days until the CRL's next update")
	}
	var keyType string
	days := 0
	if sub == "init" || sub == "issue" {
		fs.StringVar(&keyType, "key-type", string(ca.ECDSA), "ecdsa (P-256) or rsa (3072 bits)")
	}
	var name, out string
	var sans []string
	var force bool
	switch sub {
	case "init":
		fs.StringVar(&name, "name", "Smart Proxy CA", "the CA's common name")
		fs.IntVar(&days, "days", int(ca.DefaultCAValidity/(24*time.Hour)), "days the CA certificate is valid")
	case "issue":
		fs.Func("san", "a DNS name or IP address to add (repeat, or separate with commas)", func(v string) error {
			sans = append(sans, v)
			return nil
		})
		fs.StringVar(&out, "out", "", "folder for NAME.pem and NAME-key.pem (default DIR/issued)")
		fs.IntVar(&days, "days", int(ca.DefaultValidity/(24*time.Hour)), "days the certificate is valid")
		fs.BoolVar(&force, "force", false, "issue even if NAME has a valid certificate (it stays valid until revoked)")
	case "revoke", "crl", "list":
	default:
		fmt.Fprintf(stderr, "smart-proxy ca: unknown command %q\n%s", sub, caUsage)
		return 2
	}
	positional, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	wantArgs := map[string]int{"issue": 1, "revoke": 1}[sub]
	if len(positional) != wantArgs {
		fmt.Fprintf(stderr, "smart-proxy ca %s: want %d argument(s), got %d: %q\n", sub, wantArgs, len(positional), positional)
		return 2
	}
	if days < 0 || crlDays < 0 {
		fmt.Fprintln(stderr, "smart-proxy ca: --days and --crl-days must be positive")
		return 2
	}
	kt := ca.ECDSA
	if keyType != "" {
		if kt, err = ca.ParseKeyType(keyType); err != nil {
			fmt.Fprintln(stderr, "smart-proxy ca:", err)
			return 2
		}
	}
	crlValidity := time.Duration(crlDays) * 24 * time.Hour
	validity := time.Duration(days) * 24 * time.Hour

	if err := runCA(sub, *dir, positional, caRequest{name: name, keyType: kt, validity: validity, crlValidity: crlValidity,
		sans: sans, out: out, force: force}, stdout); err != nil {
		fmt.Fprintf(stderr, "smart-proxy ca %s: %v\n", sub, err)
		return 1
	}
	return 0
}

type caRequest struct {
	name                  string
	keyType               ca.KeyType
	validity, crlValidity time.Duration
	sans                  []string
	out                   string
	force                 bool
}

func runCA(sub, dir string, args []string, r caRequest, stdout io.Writer) error {
	if sub == "init" {
		c, err := ca.Init(dir, ca.InitOptions{Name: r.name, KeyType: r.keyType, Validity: r.validity, CRLValidity: r.crlValidity})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA %q created in %s, valid until %s\n", c.Cert.Subject.CommonName, dir, day(c.Cert.NotAfter))
		fmt.Fprintf(stdout, "  %s  the CA certificate: ssl_ca_file of every proxy, client_ca_file and ssl_ca_file of the core\n", filepath.Join(dir, ca.CertFile))
		fmt.Fprintf(stdout, "  %s  the CA key (0600): keep it on this machine only\n", filepath.Join(dir, ca.KeyFile))
		fmt.Fprintf(stdout, "  %s  the CRL: ssl_crl_file of every proxy, client_crl_file of the core\n", c.CRLPath())
		return nil
	}
	c, err := ca.Open(dir)
	if err != nil {
		return err
	}
	switch sub {
	case "issue":
		got, err := c.Issue(ca.IssueRequest{Name: args[0], SANs: r.sans, KeyType: r.keyType, Validity: r.validity, OutDir: r.out, Force: r.force})
		if err != nil {
			return err
		}
		names := append([]string{}, got.Cert.DNSNames...)
		for _, ip := range got.Cert.IPAddresses {
			names = append(names, ip.String())
		}
		fmt.Fprintf(stdout, "issued serial %s for CN=%s (SAN %s), server and client use, valid until %s\n",
			ca.SerialHex(got.Cert.SerialNumber), got.Cert.Subject.CommonName, strings.Join(names, ", "), day(got.Cert.NotAfter))
		fmt.Fprintf(stdout, "  %s\n  %s (0600)\n", got.CertFile, got.KeyFile)
	case "revoke":
		revoked, err := c.Revoke(args[0], r.crlValidity)
		if err != nil {
			return err
		}
		for _, e := range revoked {
			fmt.Fprintf(stdout, "revoked serial %s (%s)\n", ca.SerialHex(e.Serial), e.Subject)
		}
		return printCRL(c, stdout)
	case "crl":
		if _, err := c.CRL(r.crlValidity); err != nil {
			return err
		}
		return printCRL(c, stdout)
	case "list":
		entries, err := c.Index()
		if err != nil {
			return err
		}
		for _, e := range entries {
			state := "valid"
			if e.Status == ca.Revoked {
				state = "revoked " + day(e.RevokedAt)
			} else if time.Now().After(e.NotAfter) {
				state = "expired"
			}
			fmt.Fprintf(stdout, "%-6s %-40s until %s  %s\n", ca.SerialHex(e.Serial), e.Name(), day(e.NotAfter), state)
		}
	}
	return nil
}

// printCRL says where the CRL is and what to do with it.
func printCRL(c *ca.CA, stdout io.Writer) error {
	crl, err := c.ReadCRL()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d revoked, number %s, next update %s\n", c.CRLPath(), len(crl.RevokedCertificateEntries), crl.Number, day(crl.NextUpdate))
	fmt.Fprintln(stdout, "copy it over each proxy's ssl_crl_file and the core's client_crl_file: they re-read it at the next connection")
	return nil
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// parseInterleaved parses flags that may come before or after the positional
// arguments (`ca issue NAME --san X` as well as `ca issue --san X NAME`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
