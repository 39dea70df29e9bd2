package api

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/smartproxy/smartproxy/core/respond"
)

// optID is a reference in a request body: absent (Set false), null (Set, ID nil) or a
// number, also accepted as a string of digits as Rails does.
type optID struct {
	Set bool
	ID  *int64
}

func (o *optID) UnmarshalJSON(data []byte) error {
	o.Set = true
	s := strings.Trim(string(data), `"`)
	if s == "null" || s == "" {
		o.ID = nil
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return &respond.ValueError{Msg: string(data) + " is not a valid id"}
	}
	o.ID = &n
	return nil
}

// apply sets *dst when the reference was given.
func (o optID) apply(dst **int64) {
	if o.Set {
		*dst = o.ID
	}
}

// ids is a list of references (domain_ids, architecture_ids, ...); nil when absent.
type ids []int64

func (l *ids) UnmarshalJSON(data []byte) error {
	var raw []optID
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := ids{}
	for _, r := range raw {
		if r.ID != nil {
			out = append(out, *r.ID)
		}
	}
	*l = out
	return nil
}

// setString sets *dst when the attribute was given (null counts as "").
func setString(dst *string, v *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
	}
}
