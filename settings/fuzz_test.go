package settings

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader and every getter: it must never panic,
// and a document that parses must give a section whose getters all return.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		":enabled: true\n:use_provider: dhcp_isc\n",
		":subnets:\n  - :network: 10.0.0.0\n    :range: [10.0.0.10, 10.0.0.20]\n",
		":trusted_hosts: []\n:bind_host: '*'\n:http_port: 8000\n",
		"enabled: https\nping_free_ip: 'yes'\n",
		"- list\n", "&a [*a]", ":x: !!binary aGVsbG8=\n", "{:a: {:b: [1, {c: d}]}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yml", data)
		if err != nil {
			return
		}
		for _, k := range append(s.Keys(), "enabled", "missing") {
			s.Enabled(EnabledNone)
			s.String(k, "")
			s.Bool(k, false)
			s.Int(k, 0)
			s.StringList(k, nil)
			s.URL(k)
			for _, sub := range s.Sections(k) {
				for _, sk := range sub.Keys() {
					sub.String(sk, "")
					sub.Sections(sk)
				}
			}
		}
		_ = s.Err()
		ParseGlobal(s)
	})
}
