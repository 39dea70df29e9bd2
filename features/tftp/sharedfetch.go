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
// A node that starts (or comes back) runs every recorded request again: downloads
// are conditional (If-Modified-Since) and a complete system image is skipped.
const (
	fetchRequestPrefix = sharedPrefix + "fetch/request/"
	fetchStatusPrefix  = sharedPrefix + "fetch/status/"
)

// fetchRequest is a request key's value.
type fetchRequest struct {
	URL string `json:"url"`
	// fetch_system_image only
	Path     string   `json:"path,omitempty"`
	TFTPPath string   `json:"tftp_path,omitempty"`
	Files    []string `json:"files,omitempty"`
}

// fetchStatus is one node's outcome of one request.
type fetchStatus struct {
	State string    `json:"state"` // running, done, failed
	URL   string    `json:"url"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// shareFetch records the request in etcd, then runs startHere (which starts it on
// this node). Holding mu until then keeps this node's watcher from starting the
// same request first when the watch is faster than the write's answer.
func (sh *sharedConfigs) shareFetch(kind, file string, req fetchRequest, startHere func() (bool, error)) (bool, error) {
	key := fetchRequestPrefix + kind + "/" + file
	value, err := json.Marshal(req)
	if err != nil {
		return false, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rev, err := sh.claimPut(key, sh.applied[key], value)
	if err != nil {
		return false, err
	}
	sh.applied[key] = max(rev, sh.applied[key])
	return startHere()
}

// fetchHere starts on this node a request another node recorded (the watcher).
// Everything is checked again against this node's roots.
func (sh *sharedConfigs) fetchHere(key string, value []byte) {
	kind, file, _ := strings.Cut(strings.TrimPrefix(key, fetchRequestPrefix), "/")
	var req fetchRequest
	if err := json.Unmarshal(value, &req); err != nil {
		sh.log.Errorf("TFTP: fetch request %s unreadable: %v", key, err)
		return
	}
	var err error
	switch kind {
	case "boot":
		if clean, cerr := safepath.Clean(file); cerr != nil || clean != file {
			sh.log.Errorf("TFTP: fetch request %s names no file inside tftproot", key)
			return
		}
		_, err = sh.startBoot(file, req.URL)
	case "image":
		var job systemImage
		if job, err = sh.f.planSystemImage(req.URL, req.Path, req.TFTPPath, req.Files); err == nil {
			_, err = sh.startImage(job)
		}
	default:
		sh.log.Errorf("TFTP: fetch request %s of unknown kind", key)
		return
	}
	if err != nil {
		sh.report(kind+"/"+file, req.URL, err)
	}
}

// startBoot downloads a boot file here, reporting the outcome; false when a
// download of that file already runs.
func (sh *sharedConfigs) startBoot(rel, src string) (bool, error) {
	f := sh.f
	return f.fetcher.background(f.store, rel, func() {
		sh.reportRunning("boot/"+rel, src)
		sh.report("boot/"+rel, src, f.fetcher.run(f.store, rel, src))
	})
}

// startImage downloads and extracts a system image here (nothing when it is
// complete already), reporting the outcome.
func (sh *sharedConfigs) startImage(job systemImage) (bool, error) {
	item := "image/" + job.image
	if job.complete() {
		sh.report(item, job.url, nil)
		return false, nil
	}
	return sh.f.fetcher.background(job.images, job.image, func() {
		sh.reportRunning(item, job.url)
		sh.report(item, job.url, job.run(sh.f.fetcher, sh.log))
	})
}

func (sh *sharedConfigs) reportRunning(item, url string) {
	sh.putStatus(item, fetchStatus{State: "running", URL: url, At: time.Now().UTC()})
}

func (sh *sharedConfigs) report(item, url string, err error) {
	st := fetchStatus{State: "done", URL: url, At: time.Now().UTC()}
	if err != nil {
		st.State, st.Error = "failed", err.Error()
	}
	sh.putStatus(item, st)
}

// putStatus writes this node's own status key: no other node writes it, so a
// plain put is enough. Without quorum the status is only logged.
func (sh *sharedConfigs) putStatus(item string, st fetchStatus) {
	value, _ := json.Marshal(st)
	ctx, cancel := context.WithTimeout(context.Background(), sh.f.cfg.state.Timeout)
	defer cancel()
	key := sh.cli.Prefix() + fetchStatusPrefix + sh.node + "/" + item
	if _, err := sh.cli.Raw().Put(ctx, key, string(value)); err != nil {
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
