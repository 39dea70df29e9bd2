package puppetca

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// fakeCA stands in for Puppet Server's CA v1 API with the status codes a real
// puppetserver 7 answers (see puppet-peers.md §4).
type fakeCA struct {
	mu     sync.Mutex
	certs  map[string]map[string]any // name → certificate_statuses entry
	fail   int                       // non-zero: every call answers this status
	serial int
}

func newFakeCA() *fakeCA { return &fakeCA{certs: map[string]map[string]any{}} }

func (f *fakeCA) request(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.certs[name] = map[string]any{"name": name, "state": "requested", "fingerprint": "AA:BB", "dns_alt_names": []string{}}
}

func (f *fakeCA) put(name string, entry map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	entry["name"] = name
	f.certs[name] = entry
}

func (f *fakeCA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != 0 {
		http.Error(w, "Internal Server Error", f.fail)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/puppet-ca/v1/certificate_statuses/"):
		var names []string
		for n := range f.certs {
			names = append(names, n)
		}
		sort.Strings(names)
		list := []map[string]any{}
		for _, n := range names {
			list = append(list, f.certs[n])
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(r.URL.Path, "/puppet-ca/v1/certificate_status/"):
		f.status(w, r, strings.TrimPrefix(r.URL.Path, "/puppet-ca/v1/certificate_status/"))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCA) status(w http.ResponseWriter, r *http.Request, name string) {
	entry := f.certs[name]
	switch r.Method {
	case http.MethodDelete:
		if entry == nil {
			http.Error(w, "Resource not found.", http.StatusNotFound)
			return
		}
		delete(f.certs, name)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "Unsupported media type.", http.StatusUnsupportedMediaType)
			return
		}
		var body struct {
			DesiredState string `json:"desired_state"`
		}
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &body)
		if entry == nil {
			http.Error(w, "Invalid certificate subject.", http.StatusNotFound)
			return
		}
		switch body.DesiredState {
		case "signed":
			if entry["state"] != "requested" {
				http.Error(w, fmt.Sprintf("Cannot sign certificate for host %s without a certificate request", name), http.StatusConflict)
				return
			}
			f.serial++
			entry["state"], entry["serial_number"] = "signed", f.serial
			entry["not_before"], entry["not_after"] = "2026-11-21T00:33:29UTC", "2031-11-21T00:33:29UTC"
		case "revoked":
			if entry["state"] == "requested" {
				http.Error(w, fmt.Sprintf("Cannot revoke certificate for host %s without a signed certificate", name), http.StatusConflict)
				return
			}
			entry["state"] = "revoked"
		default:
			http.Error(w, fmt.Sprintf("State %s invalid; Must specify desired state of 'signed' or 'revoked' for host %s.", body.DesiredState, name), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
	}
}
