package etcdstate

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one change of the watched prefix, in revision order. Key is relative
// to the prefix.
type Event struct {
	Key      string
	Value    []byte
	Revision int64 // the key's mod revision; for a delete, the delete's revision
	Deleted  bool
}

// Watch states, as /metrics and /v2/features show them.
const (
	WatchStarting  = "starting"
	WatchWatching  = "watching"
	WatchResyncing = "resyncing" // the watch broke: reading the prefix again to catch up
	WatchStopped   = "stopped"
)

// Mirror keeps a local copy of everything under one sub-prefix and hands every
// change to apply, from one goroutine, in revision order. After a broken watch
// (partition, member killed, history compacted) it reads the prefix once, hands
// over only what differs from its copy (changed revisions and vanished keys),
// and watches again from the revision of that read: no reload per change.
type Mirror struct {
	c      *Client
	sub    string // relative to the client's prefix
	apply  func([]Event)
	revs   map[string]int64 // key -> mod revision of the local copy
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	state       string
	lastErr     string
	cancelWatch context.CancelFunc // ends the current watch (see pollServer)

	applied   atomic.Int64 // revision the local copy is complete up to
	server    atomic.Int64 // the cluster's revision when last asked
	resyncs   atomic.Uint64
	reachable atomic.Bool
	lastOK    atomic.Int64 // unix nanoseconds of the last answer from the cluster
}

// NewMirror watches sub (relative to the prefix); apply gets batches of events.
func (c *Client) NewMirror(sub string, apply func([]Event)) *Mirror {
	return &Mirror{c: c, sub: sub, apply: apply, revs: map[string]int64{}, state: WatchStarting, done: make(chan struct{})}
}

// Start loads the prefix (an error when the cluster does not answer: a node must
// not serve from an empty copy) and keeps watching until Stop.
func (m *Mirror) Start(ctx context.Context) error {
	rev, err := m.resync(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(wctx, rev)
	go m.pollServer(wctx)
	return nil
}

// Stop ends the watch.
func (m *Mirror) Stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.setState(WatchStopped, "")
}

// resync reads the whole sub-prefix and applies the difference to the local copy.
func (m *Mirror) resync(ctx context.Context) (int64, error) {
	full := m.c.cfg.Prefix + m.sub
	var resp *clientv3.GetResponse
	err := m.c.attempt(ctx, "reading "+m.sub, func(ctx context.Context) error {
		var err error
		resp, err = m.c.cli.Get(ctx, full, clientv3.WithPrefix())
		return err
	})
	if err != nil {
		return 0, err
	}
	var events []Event
	seen := make(map[string]struct{}, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), m.c.cfg.Prefix)
		seen[key] = struct{}{}
		if m.revs[key] != kv.ModRevision {
			m.revs[key] = kv.ModRevision
			events = append(events, Event{Key: key, Value: kv.Value, Revision: kv.ModRevision})
		}
	}
	for key := range m.revs {
		if _, ok := seen[key]; !ok {
			delete(m.revs, key)
			events = append(events, Event{Key: key, Revision: resp.Header.Revision, Deleted: true})
		}
	}
	if len(events) > 0 {
		m.apply(events)
	}
	m.applied.Store(resp.Header.Revision)
	m.server.Store(max(m.server.Load(), resp.Header.Revision))
	m.answered()
	return resp.Header.Revision, nil
}

// run watches from rev+1; when the watch breaks it resyncs and starts over.
func (m *Mirror) run(ctx context.Context, rev int64) {
	defer close(m.done)
	for ctx.Err() == nil {
		m.setState(WatchWatching, "")
		rev = m.watch(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		m.resyncs.Add(1)
		for ctx.Err() == nil {
			m.setState(WatchResyncing, m.lastError())
			r, err := m.resync(ctx)
			if err == nil {
				rev = r
				break
			}
			m.reachable.Store(false)
			m.setState(WatchResyncing, err.Error())
			sleep(ctx, 500*time.Millisecond)
		}
	}
}

// watch applies events until the watch breaks, returning the revision the copy is
// complete up to. WithRequireLeader ends it when the member it talks to loses the
// leader, so a partitioned member cannot keep this node on a stale copy silently.
func (m *Mirror) watch(ctx context.Context, rev int64) int64 {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	m.mu.Lock()
	m.cancelWatch = cancel
	m.mu.Unlock()
	full := m.c.cfg.Prefix + m.sub
	wch := m.c.cli.Watch(wctx, full, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				m.setError("watch history compacted at revision " + strconv.FormatInt(resp.CompactRevision, 10))
			} else {
				m.setError("watch: " + err.Error())
			}
			return rev
		}
		events := make([]Event, 0, len(resp.Events))
		for _, ev := range resp.Events {
			key := strings.TrimPrefix(string(ev.Kv.Key), m.c.cfg.Prefix)
			if ev.Type == clientv3.EventTypeDelete {
				delete(m.revs, key)
				events = append(events, Event{Key: key, Revision: ev.Kv.ModRevision, Deleted: true})
				continue
			}
			m.revs[key] = ev.Kv.ModRevision
			events = append(events, Event{Key: key, Value: ev.Kv.Value, Revision: ev.Kv.ModRevision})
		}
		if len(events) > 0 {
			m.apply(events)
		}
		rev = max(rev, resp.Header.Revision)
		m.applied.Store(rev)
		m.server.Store(max(m.server.Load(), rev))
		m.answered()
	}
	if ctx.Err() == nil && wctx.Err() == nil {
		m.setError("watch channel closed")
	}
	return rev
}

// pollServer asks for the cluster's revision now and then, for the lag shown in
// /metrics (the watch alone cannot tell a quiet prefix from a stuck watch).
func (m *Mirror) pollServer(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, err := m.c.Revision(ctx)
		if err != nil {
			// The client re-creates a watch refused for want of a leader without
			// telling us, so a watch on the surviving member of a cluster without
			// quorum would look alive: end it, and run's resync reports the state.
			m.reachable.Store(false)
			m.mu.Lock()
			if m.state == WatchWatching && m.cancelWatch != nil {
				m.lastErr = err.Error()
				m.cancelWatch()
			}
			m.mu.Unlock()
			continue
		}
		m.answered()
		m.server.Store(rev)
	}
}

// Status is the mirror's health for /metrics and /v2/features.
type Status struct {
	Backend   string `json:"backend"`
	Endpoints string `json:"etcd_endpoints"`
	Prefix    string `json:"etcd_prefix"`
	Watch     string `json:"watch_state"`
	Revision  int64  `json:"revision"`     // the local copy is complete up to it
	Lag       int64  `json:"revision_lag"` // revisions the cluster is ahead of the copy (when last asked)
	Reachable bool   `json:"reachable"`
	Resyncs   uint64 `json:"resyncs"`
	LastError string `json:"last_error,omitempty"`
}

// Status reports the copy's state.
func (m *Mirror) Status() Status {
	m.mu.Lock()
	state, lastErr := m.state, m.lastErr
	m.mu.Unlock()
	applied, server := m.applied.Load(), m.server.Load()
	return Status{Backend: BackendEtcd, Endpoints: strings.Join(m.c.cfg.Endpoints, ","), Prefix: m.c.cfg.Prefix + m.sub,
		Watch: state, Revision: applied, Lag: max(0, server-applied), Reachable: m.reachable.Load(),
		Resyncs: m.resyncs.Load(), LastError: lastErr}
}

// answered notes an answer from the cluster.
func (m *Mirror) answered() {
	m.reachable.Store(true)
	m.lastOK.Store(time.Now().UnixNano())
}

// LastAnswer is when the cluster last answered the mirror (a read, a resync or a
// watch response).
func (m *Mirror) LastAnswer() time.Time { return time.Unix(0, m.lastOK.Load()) }

// Reachable reports whether the cluster answered the last read (cheap: for hot paths).
func (m *Mirror) Reachable() bool { return m.reachable.Load() }

// Revision is the revision the local copy is complete up to.
func (m *Mirror) Revision() int64 { return m.applied.Load() }

func (m *Mirror) setState(s, lastErr string) {
	m.mu.Lock()
	m.state = s
	if lastErr != "" {
		m.lastErr = lastErr
	}
	m.mu.Unlock()
}

func (m *Mirror) setError(e string) {
	m.mu.Lock()
	m.lastErr = e
	m.mu.Unlock()
}

func (m *Mirror) lastError() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastErr
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
