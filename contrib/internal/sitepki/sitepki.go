// Package sitepki is the CA of a one-machine demo site (make run, make run-ha): made on
// the first run with internal/ca, reused afterwards, so the certificates stay those the
// programs already trust.
package sitepki

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/smartproxy/smartproxy/internal/ca"
)

// PKI is the folder holding ca.pem and the issued pairs.
type PKI struct {
	Dir string
}

// Path is the file name inside the folder.
func (p PKI) Path(name string) string { return filepath.Join(p.Dir, name) }

const validity = 5 * 365 * 24 * time.Hour

// Ensure writes ca.pem and, for each name in certs, <name>.pem and <name>-key.pem for
// hosts (the first is the CN; internal/ca makes them good for server and client use),
// unless ca.pem already exists. The CA (named caName) is made in a folder that is
// removed afterwards: its key is not kept, nothing else is ever signed, so nothing can
// be forged. ca.pem is written last, so an interrupted first run starts over.
func (p PKI) Ensure(caName string, hosts []string, certs ...string) error {
	if _, err := os.Stat(p.Path("ca.pem")); err == nil {
		return nil
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	work, err := os.MkdirTemp(p.Dir, ".ca-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	authority, err := ca.Init(filepath.Join(work, "ca"), ca.InitOptions{
		Name: caName + " " + time.Now().UTC().Format("2006-01-02"), Validity: validity})
	if err != nil {
		return err
	}
	for _, name := range certs {
		issued, err := authority.Issue(ca.IssueRequest{Name: hosts[0], SANs: hosts[1:], Validity: validity,
			OutDir: filepath.Join(work, name), Force: true})
		if err != nil {
			return fmt.Errorf("issuing %s: %w", name, err)
		}
		if err := os.Rename(issued.CertFile, p.Path(name+".pem")); err != nil {
			return err
		}
		if err := os.Rename(issued.KeyFile, p.Path(name+"-key.pem")); err != nil {
			return err
		}
	}
	return os.Rename(filepath.Join(work, "ca", ca.CertFile), p.Path("ca.pem"))
}
