package tftp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/durable"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// With :state_backend: etcd the per-host configs and default menus written through
// the API are etcd keys under <prefix>tftp/config/:
//
//	host/<variant>/<mac in lower case>  {"content": ..., bootloader fields}
//	default/<variant>                   {"content": <menu>}
//
// Every node watches them (etcdstate.Mirror) and writes the files into its own
// tftproot, so its TFTP server, httpboot (which serves the same root) and any other
// server reading the root serve them from the local disk, as with one proxy. The
// node that took the API call writes its files as soon as etcd accepted the key;
// the others when the watch brings it (measured in the tests).
const (
	sharedPrefix = "tftp/" // the mirror's: configs and fetches
	configPrefix = sharedPrefix + "config/"
)

// maxWriteRounds bounds how often one API write retries after another node's
// write of the same key came between its read and its transaction.
const maxWriteRounds = 20

// hostValue is a host key's value: what POST /tftp/:variant/:mac received.
type hostValue struct {
	Content  string `json:"content"`
	OS       string `json:"targetos,omitempty"`
	Release  string `json:"release,omitempty"`
	Arch     string `json:"arch,omitempty"`
	Suffix   string `json:"bootfile_suffix,omitempty"`
	WithBoot bool   `json:"with_bootloader,omitempty"`
}

func newHostValue(content string, b bootloader, withBoot bool) hostValue {
	return hostValue{Content: content, OS: b.os, Release: b.release, Arch: b.arch, Suffix: b.suffix, WithBoot: withBoot}
}

func (h hostValue) bootloader() bootloader {
	return bootloader{os: h.OS, release: h.Release, arch: h.Arch, suffix: h.Suffix}
}

// sharedConfigs is the etcd side of the feature.
type sharedConfigs struct {
	f      *Feature
	cli    *etcdstate.Client
	mirror *etcdstate.Mirror
	log    *logrus.Entry
	index  string // file listing the keys whose files this node wrote (see loadIndex)
	node   string // this node's name in fetch status keys

	mu      sync.Mutex       // orders applying keys: API writes and watch events
	applied map[string]int64 // key -> revision whose files are on disk

	applies, applyErrors atomic.Uint64
	lastApplyError       atomic.Pointer[string]

	statusMu sync.Mutex
	statuses map[string]map[string]fetchStatus // node -> "boot/<file>" or "image/<file>" -> status
}

// startShared connects, writes every key's files and watches for changes. Keys
// this node applied before but which are gone from etcd (deleted while the node
// was down) have their files removed.
func (f *Feature) startShared(ctx context.Context) error {
	cli, err := etcdstate.Open(ctx, f.cfg.state)
	if err != nil {
		return err
	}
	sh := &sharedConfigs{f: f, cli: cli, log: f.log, applied: map[string]int64{}, node: f.cfg.node,
		statuses: map[string]map[string]fetchStatus{},
		index:    filepath.Join(filepath.Dir(f.cfg.root), "."+filepath.Base(f.cfg.root)+".etcd-applied.json")}
	before := sh.loadIndex()
	sh.mirror = cli.NewMirror(sharedPrefix, sh.apply)
	if err := sh.mirror.Start(ctx); err != nil {
		cli.Close()
		return err
	}
	sh.mu.Lock()
	for _, key := range before {
		if _, ok := sh.applied[key]; !ok {
			sh.applyLocked(key, nil, 0, true)
		}
	}
	sh.saveIndexLocked()
	sh.mu.Unlock()
	f.shared.Store(sh)
	return nil
}

// connectLater retries startShared until the cluster answers (a node started
// during a quorum loss) or the feature stops.
func (f *Feature) connectLater(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if err := f.startShared(ctx); err != nil {
			continue
		}
		if ctx.Err() != nil { // stopped meanwhile
			if sh := f.shared.Swap(nil); sh != nil {
				sh.close()
			}
			return
		}
		f.log.Info("TFTP: connected to etcd, the shared configs are applied")
		return
	}
}

// etcd is the shared state: nil without :state_backend: etcd; an error wrapping
// etcdstate.ErrUnavailable while a node started without quorum is not connected.
func (f *Feature) etcd() (*sharedConfigs, error) {
	if !f.cfg.state.Etcd() {
		return nil, nil
	}
	if sh := f.shared.Load(); sh != nil {
		return sh, nil
	}
	return nil, fmt.Errorf("%w: this node started while the cluster did not answer and is not connected yet; it serves the files it has", etcdstate.ErrUnavailable)
}

func (sh *sharedConfigs) close() error {
	sh.mirror.Stop()
	return sh.cli.Close()
}

func hostKeyOf(v variant, mac string) string {
	return configPrefix + "host/" + v.name + "/" + hostKey(mac)
}
func defaultKeyOf(v variant) string { return configPrefix + "default/" + v.name }

// setHost stores the host's config in etcd and writes its files here.
func (sh *sharedConfigs) setHost(v variant, mac string, h hostValue) error {
	value, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return sh.put(hostKeyOf(v, mac), value)
}

// setDefault stores the variant's default menu in etcd and writes its files here.
func (sh *sharedConfigs) setDefault(v variant, menu string) error {
	value, err := json.Marshal(hostValue{Content: menu})
	if err != nil {
		return err
	}
	return sh.put(defaultKeyOf(v), value)
}

// deleteHost removes the host's key from etcd and its files here.
func (sh *sharedConfigs) deleteHost(v variant, mac string) error {
	key := hostKeyOf(v, mac)
	if err := sh.writable(); err != nil {
		return err
	}
	rev := sh.revOf(key)
	for range maxWriteRounds {
		res, err := sh.cli.Release(context.Background(), key, rev)
		if err != nil {
			return err
		}
		if res.Won {
			sh.mu.Lock()
			defer sh.mu.Unlock()
			// rev stays recorded: an older write arriving late is then skipped,
			// the watch's delete (a newer revision) removes the files again, harmlessly.
			err := sh.applyLocked(key, nil, rev, true)
			sh.applied[key] = rev
			sh.saveIndexLocked()
			return err
		}
		rev = res.Revision
	}
	return fmt.Errorf("%s kept changing under %d writes from other nodes; try again", key, maxWriteRounds)
}

// put writes key whatever it held (last writer wins, as with one proxy's files),
// then applies it here.
func (sh *sharedConfigs) put(key string, value []byte) error {
	rev, err := sh.claimPut(key, sh.revOf(key), value)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if rev <= sh.applied[key] {
		return nil // the watch was faster and already wrote these files
	}
	err = sh.applyLocked(key, value, rev, false)
	sh.saveIndexLocked()
	return err
}

// claimPut writes key whatever it holds, starting from the revision the caller
// knows, and returns the revision of the write.
func (sh *sharedConfigs) claimPut(key string, rev int64, value []byte) (int64, error) {
	if err := sh.writable(); err != nil {
		return 0, err
	}
	for range maxWriteRounds {
		res, err := sh.cli.Claim(context.Background(), key, rev, value)
		if err != nil {
			return 0, err
		}
		if res.Won {
			return res.Revision, nil
		}
		rev = res.Revision
	}
	return 0, fmt.Errorf("%s kept changing under %d writes from other nodes; try again", key, maxWriteRounds)
}

// writable refuses at once while the node's last read found no quorum, instead of
// making every API call wait for the timeout.
func (sh *sharedConfigs) writable() error {
	if sh.mirror.Reachable() {
		return nil
	}
	return fmt.Errorf("%w: the cluster did not answer this node's last read; PXE files are served from this node's copy, changes wait for quorum", etcdstate.ErrUnavailable)
}

func (sh *sharedConfigs) revOf(key string) int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.applied[key]
}

// apply writes the files of changed keys (the mirror's goroutine).
func (sh *sharedConfigs) apply(events []etcdstate.Event) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Statuses first: a node's start reads requests and statuses in one batch
	// (requests sort first), and fetchHere looks at this node's own status.
	for _, ev := range events {
		if strings.HasPrefix(ev.Key, fetchStatusPrefix) {
			sh.setStatus(ev)
		}
	}
	for _, ev := range events {
		if strings.HasPrefix(ev.Key, fetchStatusPrefix) {
			continue
		}
		if ev.Revision <= sh.applied[ev.Key] {
			continue // this node's own write, already on disk
		}
		if strings.HasPrefix(ev.Key, fetchRequestPrefix) {
			if ev.Deleted {
				delete(sh.applied, ev.Key) // expired (see sharedfetch.go); the files stay
			} else {
				sh.applied[ev.Key] = ev.Revision
				sh.fetchHere(ev.Key, ev.Value, ev.Revision)
			}
			continue
		}
		_ = sh.applyLocked(ev.Key, ev.Value, ev.Revision, ev.Deleted)
	}
	sh.saveIndexLocked()
}

// applyLocked makes the files of key match value (or removes them) and records
// rev. Failures are logged and counted: the node keeps its old files for that key
// and the next change of the key tries again.
func (sh *sharedConfigs) applyLocked(key string, value []byte, rev int64, deleted bool) error {
	err := sh.files(key, value, deleted)
	sh.applies.Add(1)
	if err != nil {
		sh.applyErrors.Add(1)
		msg := fmt.Sprintf("%s at revision %d: %v", key, rev, err)
		sh.lastApplyError.Store(&msg)
		sh.log.Errorf("TFTP: files of etcd key %s", msg)
		return err
	}
	if deleted {
		delete(sh.applied, key)
	} else {
		sh.applied[key] = rev
	}
	return nil
}

// files writes or removes what key stands for.
func (sh *sharedConfigs) files(key string, value []byte, deleted bool) error {
	parts := strings.Split(strings.TrimPrefix(key, configPrefix), "/")
	var h hostValue
	if !deleted {
		if err := json.Unmarshal(value, &h); err != nil {
			return err
		}
	}
	switch {
	case len(parts) == 3 && parts[0] == "host":
		v, ok := lookupVariant(parts[1])
		if !ok || !validMAC(parts[2]) {
			return errors.New("not a variant and MAC")
		}
		if deleted {
			return sh.f.removeHost(v, parts[2])
		}
		return sh.f.writeHost(v, parts[2], h.Content, h.bootloader(), h.WithBoot)
	case len(parts) == 2 && parts[0] == "default":
		v, ok := lookupVariant(parts[1])
		if !ok {
			return errors.New("not a variant")
		}
		if deleted {
			return nil // a default menu is replaced, never removed, as with one proxy
		}
		return sh.f.writeDefault(v, h.Content)
	}
	return errors.New("not a key this proxy writes")
}

// loadIndex reads the keys whose files this node wrote before it stopped.
func (sh *sharedConfigs) loadIndex() []string {
	data, err := os.ReadFile(sh.index)
	if err != nil {
		return nil
	}
	var keys []string
	if err := json.Unmarshal(data, &keys); err != nil {
		sh.log.Warnf("TFTP: %s unreadable, files of keys deleted while this node was down stay: %v", sh.index, err)
		return nil
	}
	return keys
}

// saveIndexLocked records the applied keys, so that a key deleted while this node
// is down has its files removed when it comes back.
func (sh *sharedConfigs) saveIndexLocked() {
	keys := make([]string, 0, len(sh.applied))
	for key := range sh.applied {
		if strings.HasPrefix(key, configPrefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	data, _ := json.Marshal(keys)
	if err := durable.WriteFile(sh.index, data, 0o640); err != nil {
		sh.log.Warnf("TFTP: recording the applied etcd keys: %v", err)
	}
}
