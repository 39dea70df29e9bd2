package main

import (
	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/features/dns"
	"github.com/smartproxy/smartproxy/features/httpboot"
	"github.com/smartproxy/smartproxy/features/logs"
	"github.com/smartproxy/smartproxy/features/puppet"
	"github.com/smartproxy/smartproxy/features/puppetca"
	"github.com/smartproxy/smartproxy/features/registration"
	"github.com/smartproxy/smartproxy/features/relay"
	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/features/tftp"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
)

// features is every feature this binary contains, in start order (a feature's
// dependencies before it). Reading this list tells what the binary can do.
func features(buffer *logging.Buffer) []registry.Feature {
	return []registry.Feature{
		logs.New(buffer),
		tftp.New(),
		httpboot.New(),
		dhcp.New(),
		dns.New(),
		templates.New(),
		registration.New(), // requires templates
		puppet.New(),
		puppetca.New(),
		relay.New(), // after templates and registration: where they run, /unattended and /register are theirs
	}
}
