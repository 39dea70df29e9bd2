package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
)

// pki is the site's own CA under dir: made on the first run, reused afterwards, so the
// certificates stay those the core and proxy already trust.
type pki struct {
	dir string
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

const pkiValidity = 5 * 365 * 24 * time.Hour

// ensure writes ca.pem and, for each name in certs, <name>.pem and <name>-key.pem for
// hosts (the first is the CN), unless ca.pem already exists. The CA is made with
// internal/ca in a folder that is removed afterwards: its key is not kept, nothing
// else is ever signed, so nothing can be forged. ca.pem is written last, so an
// interrupted first run starts over.
func (p pki) ensure(hosts []string, certs ...string) error {
	if _, err := os.Stat(p.path("ca.pem")); err == nil {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	work, err := os.MkdirTemp(p.dir, ".ca-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	authority, err := ca.Init(filepath.Join(work, "ca"), ca.InitOptions{
		Name: "smartproxy all-in-one CA " + time.Now().UTC().Format("2006-01-02"), Validity: pkiValidity})
	if err != nil {
		return err
	}
	for _, name := range certs {
		issued, err := authority.Issue(ca.IssueRequest{Name: hosts[0], SANs: hosts[1:], Validity: pkiValidity,
			OutDir: filepath.Join(work, name), Force: true})
		if err != nil {
			return fmt.Errorf("issuing %s: %w", name, err)
		}
		if err := os.Rename(issued.CertFile, p.path(name+".pem")); err != nil {
			return err
		}
		if err := os.Rename(issued.KeyFile, p.path(name+"-key.pem")); err != nil {
			return err
		}
	}
	return os.Rename(filepath.Join(work, "ca", ca.CertFile), p.path("ca.pem"))
}
