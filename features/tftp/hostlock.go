package tftp

import (
	"strings"
	"sync"
)

// hostLocks lets one request at a time write or delete a host's config files (spec §10,
// development versions of the Ruby proxy): a second request for the same MAC is
// refused at once with 409 instead of interleaving its renames and removals with the
// first one's.
type hostLocks struct {
	mu   sync.Mutex
	busy map[string]bool
}

// hostKey is how a MAC names a host: MACs differ from one another only in case.
func hostKey(mac string) string { return strings.ToLower(mac) }

// tryLock takes the host's lock, or reports false when another request holds it.
func (l *hostLocks) tryLock(mac string) (unlock func(), ok bool) {
	key := hostKey(mac)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[key] {
		return nil, false
	}
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	l.busy[key] = true
	return func() {
		l.mu.Lock()
		delete(l.busy, key)
		l.mu.Unlock()
	}, true
}
