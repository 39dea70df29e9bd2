package embedded

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// entry is one journal line (JSON, so the lease file can be read with jq).
type entry struct {
	Kind     string            `json:"k"` // see the kind* constants
	IP       string            `json:"ip"`
	MAC      string            `json:"mac"`
	Subnet   string            `json:"subnet,omitempty"` // reservations: the prefix they belong to
	Starts   int64             `json:"starts,omitempty"` // unix seconds
	Ends     int64             `json:"ends,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	Name     string            `json:"name,omitempty"`
	Options  map[string]string `json:"options,omitempty"`

	// With :state_backend: etcd: the key's revision the decision was made on, and
	// whether this lease renews the client's own live lease (then it may be
	// acknowledged from the local copy when etcd has no quorum).
	expect  int64
	renewal bool
	// Reservations: the revision of the IP's index key the decision saw and what
	// it holds after this write (nil: deleted). Leases: the index key was absent,
	// and the write requires it still is. See shared_reservations.go.
	expectIndex int64
	indexValue  []byte
	guardIndex  bool
	// queued: when the write was handed to the committer (its age decides
	// whether it is still worth writing). stored: for a renewal, the expiry etcd
	// holds for the client's lease, which a renewal answered from the local copy
	// must not outlast. fromCopy: it was answered so (Ends capped to stored).
	// dispatched: when it went to etcd.
	queued     time.Time
	dispatched time.Time
	stored     int64
	fromCopy   bool
}

const (
	kindLease     = "lease"   // an ACKed (or renewed) lease
	kindRelease   = "release" // the client gave the address back
	kindDecline   = "decline" // the client found the address in use: quarantined until Ends
	kindReserve   = "reserve"
	kindUnreserve = "unreserve"
)

func (e *entry) encode() []byte {
	// Only strings and integers: Marshal cannot fail on this type.
	b, _ := json.Marshal(e)
	return b
}

func decodeEntry(line []byte) (*entry, netip.Addr, error) {
	var e entry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, netip.Addr{}, fmt.Errorf("not a journal entry: %w", err)
	}
	ip, err := netip.ParseAddr(e.IP)
	if err != nil || !ip.Is4() {
		return nil, netip.Addr{}, fmt.Errorf("entry %q has no IPv4 address", e.Kind)
	}
	if e.MAC == "" {
		return nil, netip.Addr{}, fmt.Errorf("entry %q for %s has no MAC", e.Kind, ip)
	}
	return &e, ip, nil
}
