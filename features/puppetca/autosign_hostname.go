package puppetca

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/smartproxy/smartproxy/internal/durable"
	"github.com/smartproxy/smartproxy/registry"
)

// hostnameAutosigner is puppetca_hostname_whitelisting: certnames listed one per line
// in Puppet's autosign.conf, which Puppet Server reads itself.
type hostnameAutosigner struct {
	file string
	mu   sync.Mutex // one change at a time within this process
}

var (
	_ registry.Module = (*hostnameAutosigner)(nil)
	_ autosigner      = (*hostnameAutosigner)(nil)
)

func newHostnameAutosigner() *hostnameAutosigner { return &hostnameAutosigner{} }

func (*hostnameAutosigner) Name() string { return HostnameProvider }

// Configure reads puppetca_hostname_whitelisting.yml.
func (a *hostnameAutosigner) Configure(env *registry.Env) error {
	a.file = env.Settings.Path("autosignfile", "/etc/puppet/autosign.conf")
	return nil
}

// List returns the entries, skipping blank and comment lines; no file is no entries.
func (a *hostnameAutosigner) List() ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	data, err := os.ReadFile(a.file)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		out = append(out, strings.TrimRight(line, " \t\r"))
	}
	return out, nil
}

// Add appends certname unless it is listed already (creating the file if needed).
func (a *hostnameAutosigner) Add(certname string, _ int) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(a.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := os.ReadFile(a.file)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimRight(line, "\r") == certname {
			return nil, nil
		}
	}
	entry := certname + "\n"
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		entry = "\n" + entry
	}
	if _, err := f.WriteString(entry); err != nil {
		return nil, fmt.Errorf("appending to %s: %w", a.file, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", a.file, err)
	}
	return nil, nil
}

// Remove deletes every line equal to certname.
func (a *hostnameAutosigner) Remove(certname string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	info, err := os.Stat(a.file)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("No such file %s", a.file)
	}
	if err != nil {
		return err
	}
	data, err := os.ReadFile(a.file)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	kept := lines[:0]
	found := false
	for _, line := range lines {
		if strings.TrimRight(line, "\r\n") == certname {
			found = true
			continue
		}
		kept = append(kept, line)
	}
	if !found {
		return &errNotPresent{msg: fmt.Sprintf("Attempt to remove nonexistent client autosign for %s", certname)}
	}
	return a.rewrite([]byte(strings.Join(kept, "")), info)
}

// rewrite replaces the file atomically when its folder lets us create files there;
// otherwise (the usual /etc/puppetlabs/puppet owned by root, the file writable by the
// proxy) it is rewritten in place, as the Ruby proxy does.
func (a *hostnameAutosigner) rewrite(data []byte, info fs.FileInfo) error {
	err := durable.WriteFile(a.file, data, info.Mode().Perm())
	if err == nil {
		chownLike(a.file, info)
		return nil
	}
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	f, err := os.OpenFile(a.file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("rewriting %s: %w", a.file, err)
	}
	return f.Sync()
}
