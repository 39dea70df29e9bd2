package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// stateBackendModules are the providers that may keep their state in etcd, with
// the feature that uses them.
var stateBackendModules = map[string]string{
	"dhcp_embedded":                  "dhcp",
	"dns_embedded":                   "dns",
	"tftp":                           "tftp",
	"puppetca_hostname_whitelisting": "puppetca",
	"puppetca_token_whitelisting":    "puppetca",
}

// checkEtcd asks the etcd cluster of every enabled module on :state_backend: etcd
// (its own or settings.yml's global one) for its revision (a linearizable read: it needs quorum), so a wrong endpoint,
// certificate or a cluster without quorum shows before the proxy starts.
func checkEtcd(global *settings.Global, reg *registry.Registry, stdout io.Writer) int {
	failed := 0
	modules := slices.Sorted(maps.Keys(stateBackendModules))
	for _, module := range modules {
		feature := stateBackendModules[module]
		if state, _ := reg.StateOf(feature); state == registry.Disabled || !reg.Uses(feature, module) {
			continue // an unused provider would inherit a global etcd backend it never opens
		}
		sec, err := settings.Load(global.ModuleFile(module))
		if err != nil {
			continue // a missing or unreadable file is the registry's to report
		}
		sec.Inherit(global.StateDefaults, settings.StateKeys) // as the registry does
		cfg := etcdstate.Parse(sec)
		if !cfg.Etcd() || sec.Err() != nil {
			continue
		}
		cli, err := etcdstate.Open(context.Background(), cfg)
		if err != nil {
			fmt.Fprintf(stdout, "error: %s: %v\n", module, err)
			failed++
			continue
		}
		rev, err := cli.Revision(context.Background())
		cli.Close()
		if err != nil {
			fmt.Fprintf(stdout, "error: %s: %v\n", module, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%-14s etcd ok: revision %d at %s, prefix %s (backend from %s)\n",
			module, rev, strings.Join(cfg.Endpoints, ","), cfg.Prefix, sec.Source("state_backend"))
	}
	return failed
}
