package puppetca

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/durable"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/registry"
)

// hostnameAutosigner is puppetca_hostname_whitelisting: certnames listed one per line
// in Puppet's autosign.conf, which Puppet Server reads itself.
type hostnameAutosigner struct {
	file   string
	mu     sync.Mutex       // one change at a time within this process
	state  etcdstate.Config // :state_backend: etcd shares the entries
	shared *sharedNames
	log    *logrus.Entry
}

var (
	_ registry.Module  = (*hostnameAutosigner)(nil)
	_ autosigner       = (*hostnameAutosigner)(nil)
	_ registry.Starter = (*hostnameAutosigner)(nil)
	_ registry.Stopper = (*hostnameAutosigner)(nil)
)

func newHostnameAutosigner() *hostnameAutosigner { return &hostnameAutosigner{} }

func (*hostnameAutosigner) Name() string { return HostnameProvider }

// Configure reads puppetca_hostname_whitelisting.yml.
func (a *hostnameAutosigner) Configure(env *registry.Env) error {
	a.file = env.Settings.Path("autosignfile", "/etc/puppet/autosign.conf")
	a.state = etcdstate.Parse(env.Settings)
	a.log = env.Log
	return nil
}

// Start, on etcd, loads the shared entries into the file and watches them.
func (a *hostnameAutosigner) Start(ctx context.Context) error {
	if !a.state.Etcd() {
		return nil
	}
	if err := a.startShared(ctx); err != nil {
		return fmt.Errorf("autosign entries on etcd: %w", err)
	}
	return nil
}

// Stop closes the etcd connection.
func (a *hostnameAutosigner) Stop(context.Context) error {
	if a.shared == nil {
		return nil
	}
	err := a.shared.close()
	a.shared = nil
	return err
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

// Add appends certname unless it is listed already (creating the file if needed);
// on etcd through the shared entries.
func (a *hostnameAutosigner) Add(certname string, _ int) (any, error) {
	if a.shared != nil {
		if err := a.shared.writable(); err != nil {
			return nil, err
		}
		return nil, a.shared.add(certname)
	}
	return a.addLocal(certname)
}

// addLocal appends certname to the file unless it is listed already.
func (a *hostnameAutosigner) addLocal(certname string) (any, error) {
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

// Remove deletes every line equal to certname; on etcd through the shared entries.
func (a *hostnameAutosigner) Remove(certname string) error {
	if a.shared != nil {
		if err := a.shared.writable(); err != nil {
			return err
		}
		return a.shared.remove(certname)
	}
	return a.removeLocal(certname)
}

// removeLocal deletes every line equal to certname from the file.
func (a *hostnameAutosigner) removeLocal(certname string) error {
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
