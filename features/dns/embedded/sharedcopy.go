package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// etcdCopyFile, in :state_dir:, is this node's copy of the zones on etcd: every
// served zone's records and the revision they are at. It lets a node that starts
// while the cluster has no quorum answer queries; once connected, the watch brings
// only the zones changed since (their key's revision is newer).
const etcdCopyFile = "etcd-copy.json"

type copyZone struct {
	Rev     int64    `json:"rev"`
	Records []string `json:"records"`
}

// saveCache writes the copy (the caller holds writeMu). A failure only costs the
// ability to start without quorum, so it is logged.
func (sh *sharedZones) saveCache() {
	if sh.cache == "" {
		return
	}
	out := map[string]copyZone{}
	for name, z := range sh.s.zones {
		if z.rev != 0 {
			out[name] = copyZone{Rev: z.rev, Records: recordsAfter(z, nil, nil)}
		}
	}
	data, err := json.Marshal(out)
	if err == nil {
		err = durable.WriteFile(sh.cache, data, 0o640)
	}
	if err != nil {
		sh.s.log.Warnf("dns_embedded: keeping the copy of the zones in %s: %v", sh.cache, err)
	}
}

// loadCache installs the saved copy; false when there is none.
func (sh *sharedZones) loadCache() (bool, error) {
	data, err := os.ReadFile(sh.cache)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var saved map[string]copyZone
	if err := json.Unmarshal(data, &saved); err != nil {
		return false, fmt.Errorf("%s: %w", sh.cache, err)
	}
	for name, cz := range saved {
		z := sh.s.zones[name]
		if z == nil {
			continue
		}
		value, _ := json.Marshal(zoneValue{Records: cz.Records})
		if err := sh.install(z, value, cz.Rev, false); err != nil {
			return false, fmt.Errorf("%s, zone %s: %w", sh.cache, name, err)
		}
	}
	return true, nil
}
