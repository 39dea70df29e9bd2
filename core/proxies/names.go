package proxies

import (
	"strings"
	"unicode"
)

// ForemanFeatures are the names of Foreman's Feature table that a proxy's features are
// matched against: those Foreman seeds, plus Puppet (the foreman_puppet plugin) and the
// plugins smart-proxy-api.md §6.3 names. A proxy feature outside this list is ignored,
// as Foreman ignores features of plugins it does not have installed.
var ForemanFeatures = []string{
	"Templates", "TFTP", "DNS", "DHCP", "Puppet CA", "BMC", "Realm", "Facts", "Logs",
	"HTTPBoot", "External IPAM", "Registration",
	"Puppet", "Ansible", "Dynflow", "Script", "Openscap",
}

// byKey maps a normalised name ("puppetca") to its Foreman name ("Puppet CA").
var byKey = func() map[string]string {
	m := make(map[string]string, len(ForemanFeatures))
	for _, name := range ForemanFeatures {
		m[normalise(name)] = name
	}
	return m
}()

// NormaliseFeature maps the name a proxy reports ("puppetca", "httpboot") to Foreman's
// ("Puppet CA", "HTTPBoot"): both sides compared lower-cased without whitespace, as
// Foreman's Feature.name_map does.
func NormaliseFeature(proxyName string) (foremanName string, known bool) {
	foremanName, known = byKey[normalise(proxyName)]
	return foremanName, known
}

func normalise(name string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, name))
}
