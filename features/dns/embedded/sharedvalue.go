package embedded

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/miekg/dns"
)

// records lists the node's records.
func (n *node) records() []dns.RR {
	var out []dns.RR
	for _, set := range n.sets {
		out = append(out, set...)
	}
	return out
}

// lines is the node's records in zone-file syntax, sorted: the same records
// always make the same etcd value.
func (n *node) lines() []string {
	out := make([]string, 0, len(n.sets))
	for _, set := range n.sets {
		for _, x := range set {
			out = append(out, x.String())
		}
	}
	sort.Strings(out)
	return out
}

// encodeName is the value of an owner name's key.
func encodeName(n *node) []byte {
	data, _ := json.Marshal(nameValue{Records: n.lines()}) // a list of strings always marshals
	return data
}

// decodeName reads the value of an owner name's key (or of an old-shape zone key).
func decodeName(value []byte) ([]dns.RR, error) {
	var v nameValue
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, err
	}
	return parseRecords(v.Records)
}

// sameOwner checks that every record of a name's key is owned by that name (a key
// written by hand could say otherwise; the node would answer it under the wrong name).
func sameOwner(rrs []dns.RR, owner string) error {
	for _, x := range rrs {
		if dns.CanonicalName(x.Header().Name) != owner {
			return fmt.Errorf("record %q is not owned by %s", x.String(), owner)
		}
	}
	return nil
}
