package tftp

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// fetch_boot_file and fetch_system_image on etcd: the node that takes the call
// records the request under fetch/request/<boot|image>/<file> and starts it; every
// other node's watcher starts it too, so each keeps its own copy of the (large)
// files. Each node reports the outcome of its own run under
// fetch/status/<node>/<boot|image>/<file>, which every node's /v2/features shows.
//
// A request lives for :etcd_fetch_ttl: (default a week): it is put on an etcd
// lease of that TTL, and every node's status of it on the same lease, so the
// cluster deletes them together, whichever nodes are up. A lease rather than
// "delete once every live node is done": a node that is down, or not installed
// yet, is not live, so that rule would delete a request before the node coming
// back or joining could see it; a lifetime gives every node that returns within
// it the files, needs no list of nodes, and no node has to watch the others'
// statuses to clean up. A node that (re)starts within the lifetime runs a
// request again only if its own status does not say it finished that very
// request (same revision) with the file still there; a system image already
// complete is skipped anyway. The files themselves stay when a request expires.
const (
	fetchRequestPrefix = sharedPrefix + "fetch/request/"
	fetchStatusPrefix  = sharedPrefix + "fetch/status/"
	defaultFetchTTL    = 7 * 24 * 3600 // seconds
)

// fetchRun is the request one run carries out: its key's mod revision and lease.
type fetchRun struct {
	rev   int64
	lease int64
}

// fetchRequest is a request key's value.
type fetchRequest struct {
	URL string `json:"url"`
	// fetch_system_image only
	Path     string   `json:"path,omitempty"`
	TFTPPath string   `json:"tftp_path,omitempty"`
	Files    []string `json:"files,omitempty"`
	// Lease is the request's etcd lease, which the statuses join.
	Lease int64 `json:"lease,omitempty"`
}

// fetchStatus is one node's outcome of one request.
type fetchStatus struct {
	State string    `json:"state"` // running, done, failed
	URL   string    `json:"url"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
	// Request is the revision of the request this run carried out.
	Request int64 `json:"request,omitempty"`
}

// shareFetch records the request in etcd on a fresh lease of :etcd_fetch_ttl:,
// then runs startHere (which starts it on this node). Holding mu until then keeps
// this node's watcher from starting the same request first when the watch is
// faster than the write's answer. The last writer of a request wins, as the
// files would on one proxy.
func (sh *sharedConfigs) shareFetch(kind, file string, req fetchRequest, startHere func(fetchRun) (bool, error)) (bool, error) {
	if err := sh.writable(); err != nil {
		return false, err
	}
	key := fetchRequestPrefix + kind + "/" + file
	ctx := context.Background()
	lease, err := sh.cli.GrantLease(ctx, sh.f.cfg.fetchTTL)
	if err != nil {
		return false, err
	}
	req.Lease = lease
	value, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rev, err := sh.cli.PutOnLease(ctx, key, value, lease)
	if err != nil {
		return false, err
	}
	sh.applied[key] = max(rev, sh.applied[key])
	return startHere(fetchRun{rev: rev, lease: lease})
}

// fetchHere starts on this node a request another node recorded (the watcher),
// or one recorded before this node started. Everything is checked again against
// this node's roots.
func (sh *sharedConfigs) fetchHere(key string, value []byte, rev int64) {
	kind, file, _ := strings.Cut(strings.TrimPrefix(key, fetchRequestPrefix), "/")
	var req fetchRequest
	if err := json.Unmarshal(value, &req); err != nil {
		sh.log.Errorf("TFTP: fetch request %s unreadable: %v", key, err)
		return
	}
	if req.Lease == 0 {
		go sh.adoptLegacy(key, req, rev) // and run it meanwhile, as before
	}
	run := fetchRun{rev: rev, lease: req.Lease}
	var err error
	switch kind {
	case "boot":
		if clean, cerr := safepath.Clean(file); cerr != nil || clean != file {
			sh.log.Errorf("TFTP: fetch request %s names no file inside tftproot", key)
			return
		}
		if sh.finishedHere("boot/"+file, rev) {
			if _, serr := sh.f.store.stat(file); serr == nil {
				sh.log.Debugf("TFTP: boot file %s already fetched for request %d", file, rev)
				return
			}
		}
		_, err = sh.startBoot(file, req.URL, run)
	case "image":
		var job systemImage
		if job, err = sh.f.planSystemImage(req.URL, req.Path, req.TFTPPath, req.Files); err == nil {
			if sh.finishedHere("image/"+job.image, rev) && job.complete() {
				return
			}
			_, err = sh.startImage(job, run)
		}
	default:
		sh.log.Errorf("TFTP: fetch request %s of unknown kind", key)
		return
	}
	if err != nil {
		sh.report(kind+"/"+file, req.URL, run, err)
	}
}

// adoptLegacy gives a request recorded before requests had a lifetime (no lease
// in its value) one: it is put again on a fresh lease, only if still at rev, so
// of the nodes that see it one does it. Every node then runs it again as a new
// request (conditional downloads; a complete image is skipped; a download still
// running is not started twice) and puts its status on the lease, so both
// leave with it.
func (sh *sharedConfigs) adoptLegacy(key string, req fetchRequest, rev int64) {
	ctx := context.Background()
	lease, err := sh.cli.GrantLease(ctx, sh.f.cfg.fetchTTL)
	if err == nil {
		req.Lease = lease
		value, _ := json.Marshal(req)
		_, err = sh.cli.ClaimOnLease(ctx, key, rev, value, lease)
	}
	if err != nil {
		sh.log.Warnf("TFTP: fetch request %s recorded without a lifetime keeps none for now: %v", key, err)
	}
}

// finishedHere: this node's own status says it finished request rev of item.
func (sh *sharedConfigs) finishedHere(item string, rev int64) bool {
	sh.statusMu.Lock()
	defer sh.statusMu.Unlock()
	st, ok := sh.statuses[sh.node][item]
	return ok && st.State == "done" && st.Request == rev
}

// startBoot downloads a boot file here, reporting the outcome; false when a
// download of that file already runs.
func (sh *sharedConfigs) startBoot(rel, src string, run fetchRun) (bool, error) {
	f := sh.f
	return f.fetcher.background(f.store, rel, func() {
		sh.reportRunning("boot/"+rel, src, run)
		sh.report("boot/"+rel, src, run, f.fetcher.run(f.store, rel, src))
	})
}

// startImage downloads and extracts a system image here (nothing when it is
// complete already), reporting the outcome.
func (sh *sharedConfigs) startImage(job systemImage, run fetchRun) (bool, error) {
	item := "image/" + job.image
	if job.complete() {
		sh.report(item, job.url, run, nil)
		return false, nil
	}
	return sh.f.fetcher.background(job.images, job.image, func() {
		sh.reportRunning(item, job.url, run)
		sh.report(item, job.url, run, job.run(sh.f.fetcher, sh.log))
	})
}

func (sh *sharedConfigs) reportRunning(item, url string, run fetchRun) {
	sh.putStatus(item, run, fetchStatus{State: "running", URL: url, At: time.Now().UTC(), Request: run.rev})
}

func (sh *sharedConfigs) report(item, url string, run fetchRun, err error) {
	st := fetchStatus{State: "done", URL: url, At: time.Now().UTC(), Request: run.rev}
	if err != nil {
		st.State, st.Error = "failed", err.Error()
	}
	sh.putStatus(item, run, st)
}

// putStatus writes this node's own status key, on the request's lease so that it
// goes with the request: no other node writes it, so a plain put is enough.
// Without quorum the status is only logged; a request expired meanwhile leaves
// none. (A request recorded before requests had leases has lease 0: no lease,
// it and its statuses stay until deleted by hand.)
func (sh *sharedConfigs) putStatus(item string, run fetchRun, st fetchStatus) {
	value, _ := json.Marshal(st)
	_, err := sh.cli.PutOnLease(context.Background(), fetchStatusPrefix+sh.node+"/"+item, value, run.lease)
	if err != nil {
		sh.log.Warnf("TFTP: status %s of %s not recorded in etcd: %v", st.State, item, err)
	}
}

// setStatus keeps a node's status from the watch, for /v2/features.
func (sh *sharedConfigs) setStatus(ev etcdstate.Event) {
	node, item, ok := strings.Cut(strings.TrimPrefix(ev.Key, fetchStatusPrefix), "/")
	if !ok {
		return
	}
	sh.statusMu.Lock()
	defer sh.statusMu.Unlock()
	if ev.Deleted {
		delete(sh.statuses[node], item)
		return
	}
	var st fetchStatus
	if json.Unmarshal(ev.Value, &st) != nil {
		return
	}
	if sh.statuses[node] == nil {
		sh.statuses[node] = map[string]fetchStatus{}
	}
	sh.statuses[node][item] = st
}

// fetchStatuses is every node's status of every request, copied.
func (sh *sharedConfigs) fetchStatuses() map[string]map[string]fetchStatus {
	sh.statusMu.Lock()
	defer sh.statusMu.Unlock()
	out := make(map[string]map[string]fetchStatus, len(sh.statuses))
	for node, items := range sh.statuses {
		out[node] = make(map[string]fetchStatus, len(items))
		for item, st := range items {
			out[node][item] = st
		}
	}
	return out
}
