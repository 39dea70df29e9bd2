package puppetca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/smartproxy/smartproxy/internal/durable"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// namesPrefix holds one key per autosign entry (the certname), value empty.
const namesPrefix = "puppetca/autosign/"

// sharedNames shares puppetca_hostname_whitelisting's entries through etcd: an
// entry added or removed through any node is a key put or deleted, and every
// node's watcher adds it to or removes it from its own autosign file, which its
// Puppet Server reads. Lines written by hand are left alone. The names this node
// applied are listed in <autosignfile>.etcd-applied, so an entry deleted while
// the node was down is removed from its file when it comes back.
type sharedNames struct {
	a      *hostnameAutosigner
	cli    *etcdstate.Client
	mirror *etcdstate.Mirror
	index  string

	mu   sync.Mutex
	revs map[string]int64 // certname -> revision of its key, as applied here
}

func (a *hostnameAutosigner) startShared(ctx context.Context) error {
	cli, err := etcdstate.Open(ctx, a.state)
	if err != nil {
		return err
	}
	sh := &sharedNames{a: a, cli: cli, index: a.file + ".etcd-applied", revs: map[string]int64{}}
	before := sh.loadIndex()
	sh.mirror = cli.NewMirror(namesPrefix, sh.apply)
	if err := sh.mirror.Start(ctx); err != nil {
		cli.Close()
		return err
	}
	sh.mu.Lock()
	for _, name := range before {
		if _, ok := sh.revs[name]; !ok {
			sh.removeLocal(name)
		}
	}
	sh.saveIndexLocked()
	sh.mu.Unlock()
	a.shared = sh
	return nil
}

func (sh *sharedNames) close() error {
	sh.mirror.Stop()
	return sh.cli.Close()
}

// apply adds or removes the changed entries in the local file (the watcher).
func (sh *sharedNames) apply(events []etcdstate.Event) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, ev := range events {
		name := strings.TrimPrefix(ev.Key, namesPrefix)
		if ev.Deleted {
			delete(sh.revs, name)
			sh.removeLocal(name)
			continue
		}
		sh.revs[name] = ev.Revision
		if _, err := sh.a.addLocal(name); err != nil {
			sh.a.log.Errorf("puppetca: autosign entry %s from etcd not written to %s: %v", name, sh.a.file, err)
		}
	}
	sh.saveIndexLocked()
}

func (sh *sharedNames) removeLocal(name string) {
	var np *errNotPresent
	if err := sh.a.removeLocal(name); err != nil && !errors.As(err, &np) && !strings.HasPrefix(err.Error(), "No such file") {
		sh.a.log.Errorf("puppetca: autosign entry %s deleted in etcd not removed from %s: %v", name, sh.a.file, err)
	}
}

// add puts the entry's key (already there is fine) and writes the local file.
func (sh *sharedNames) add(name string) error {
	res, err := sh.cli.Claim(context.Background(), namesPrefix+name, 0, nil)
	if err != nil {
		return err
	}
	rev := res.Revision // won: ours; lost: another node's, just as good
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.revs[name] = max(sh.revs[name], rev)
	sh.saveIndexLocked()
	_, err = sh.a.addLocal(name)
	return err
}

// remove deletes the entry's key and its line here; a name in neither is 404 as
// with one proxy.
func (sh *sharedNames) remove(name string) error {
	_, rev, err := sh.cli.Get(context.Background(), namesPrefix+name)
	if err != nil {
		return err
	}
	if rev != 0 {
		if _, err := sh.cli.Release(context.Background(), namesPrefix+name, rev); err != nil {
			return err
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.revs, name)
	sh.saveIndexLocked()
	err = sh.a.removeLocal(name)
	var np *errNotPresent
	if rev != 0 && errors.As(err, &np) {
		return nil // the watcher was faster
	}
	return err
}

func (sh *sharedNames) loadIndex() []string {
	data, err := os.ReadFile(sh.index)
	if err != nil {
		return nil
	}
	var names []string
	if json.Unmarshal(data, &names) != nil {
		sh.a.log.Warnf("puppetca: %s unreadable: entries deleted while this node was down stay in %s", sh.index, sh.a.file)
		return nil
	}
	return names
}

func (sh *sharedNames) saveIndexLocked() {
	names := make([]string, 0, len(sh.revs))
	for name := range sh.revs {
		names = append(names, name)
	}
	sort.Strings(names)
	data, _ := json.Marshal(names)
	if err := durable.WriteFile(sh.index, data, 0o640); err != nil {
		sh.a.log.Warnf("puppetca: recording the autosign entries applied from etcd: %v", err)
	}
}

// errSharedUnavailable is returned without a round trip when the node's copy found
// the cluster silent.
func (sh *sharedNames) writable() error {
	if sh.mirror.Reachable() {
		return nil
	}
	return fmt.Errorf("%w: the cluster did not answer this node's last read; the autosign file keeps its entries, changes wait for quorum", etcdstate.ErrUnavailable)
}
