package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/smartproxy/smartproxy/internal/iscdhcp"
)

// printISCSubnets writes the subnet declarations of dhcpd.conf files as the :subnets:
// list of dhcp_embedded.yml, so the embedded server can take over their addresses.
// Options dhcpd inherits from outside a subnet block are not carried: the output says
// so, for the admin to review.
func printISCSubnets(paths []string, stdout, stderr io.Writer) int {
	var subnets []iscdhcp.Subnet
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "smart-proxy:", err)
			return 1
		}
		found, err := iscdhcp.Subnets(string(src))
		if err != nil {
			fmt.Fprintf(stderr, "smart-proxy: %s: %v\n", path, err)
			return 1
		}
		subnets = append(subnets, found...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# From %s. Options set outside a subnet block in dhcpd.conf are not\n", strings.Join(paths, ", "))
	b.WriteString("# carried over: review before use.\n:subnets:\n")
	for _, s := range subnets {
		fmt.Fprintf(&b, "  - :network: %s\n    :netmask: %s\n", s.Network, s.Netmask)
		list := func(key string, v []string) {
			if len(v) > 0 {
				fmt.Fprintf(&b, "    :%s: [%s]\n", key, strings.Join(v, ", "))
			}
		}
		text := func(key, v string) {
			if v != "" {
				fmt.Fprintf(&b, "    :%s: %s\n", key, strconv.Quote(v))
			}
		}
		number := func(key string, v int) {
			if v > 0 {
				fmt.Fprintf(&b, "    :%s: %d\n", key, v)
			}
		}
		list("range", s.Range)
		list("routers", s.Routers)
		text("domain_name", s.DomainName)
		list("domain_name_servers", s.DNSServers)
		list("ntp_servers", s.NTPServers)
		number("interface_mtu", s.MTU)
		number("lease_time", s.LeaseTime)
		text("next_server", s.NextServer)
		text("filename", s.Filename)
	}
	if len(subnets) == 0 {
		b.WriteString("  []\n")
	}
	_, _ = io.WriteString(stdout, b.String())
	return 0
}
