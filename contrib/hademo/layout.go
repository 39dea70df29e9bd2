package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/smartproxy/smartproxy/contrib/internal/sitepki"
)

// layout is everything the demo keeps under var/ha: the CA and certificates, each etcd
// member's data and log, each node's settings and files, and the pid files.
type layout struct {
	dir    string // var/ha, absolute
	offset int    // added to every port (tests; 0 for make run-ha)
	pki    sitepki.PKI
}

// The ports on loopback before the offset. etcd members keep etcd's 2379/2380 pair in
// a band of their own, clear of a real etcd on the machine.
const (
	etcdClientPort = 2379 // member i (1..3) listens on i*10000+2379, peers on i*10000+2380
	etcdPeerPort   = 2380
)

// node is one smart proxy of the demo.
type node struct {
	name                  string // nodeA, nodeB
	http, tftp, dns, dhcp int    // loopback ports
}

func (l layout) nodes() []node {
	o := l.offset
	return []node{
		{name: "nodeA", http: 8001 + o, tftp: 6971 + o, dns: 5301 + o, dhcp: 6701 + o},
		{name: "nodeB", http: 8002 + o, tftp: 6972 + o, dns: 5302 + o, dhcp: 6702 + o},
	}
}

func (l layout) memberNames() []string { return []string{"etcd1", "etcd2", "etcd3"} }

func (l layout) clientURL(i int) string {
	return fmt.Sprintf("https://127.0.0.1:%d", i*10000+etcdClientPort+l.offset)
}

func (l layout) peerURL(i int) string {
	return fmt.Sprintf("https://127.0.0.1:%d", i*10000+etcdPeerPort+l.offset)
}

func (l layout) endpoints() []string {
	var eps []string
	for i := range l.memberNames() {
		eps = append(eps, l.clientURL(i+1))
	}
	return eps
}

func (l layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}

// pidFile is where a process's pid is, for the README's kill -9.
func (l layout) pidFile(name string) string { return l.path("pids", name+".pid") }

// prepare makes the CA on the first run and (re)writes both nodes' settings, so a
// changed port in this program takes effect on the next run. State (etcd data, the
// nodes' copies) is kept.
func (l layout) prepare() error {
	for _, d := range []string{l.dir, l.path("pids"), l.path("etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// One pair for the members (server and peer side) and one for the proxies (client side).
	if err := l.pki.Ensure("smartproxy HA demo CA", []string{"localhost", "127.0.0.1"}, "etcd", "proxy"); err != nil {
		return fmt.Errorf("making the CA and certificates in %s: %w", l.pki.Dir, err)
	}
	for _, n := range l.nodes() {
		if err := l.writeNode(n); err != nil {
			return fmt.Errorf("writing %s's settings: %w", n.name, err)
		}
	}
	return nil
}

func (l layout) settingsFile(n node) string { return l.path(n.name, "settings.yml") }

// writeNode writes the node's settings.yml (the global etcd backend every module
// inherits) and its settings.d: logs, dns on dns_embedded, tftp, dhcp on dhcp_embedded.
func (l layout) writeNode(n node) error {
	base := l.path(n.name)
	sd := filepath.Join(base, "settings.d")
	for _, d := range []string{sd, filepath.Join(base, "tftpboot"), filepath.Join(base, "dns"), filepath.Join(base, "dhcp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	global := fmt.Sprintf(`---
# Written by make run-ha (contrib/hademo) at every start.
:settings_directory: %s
:bind_host: ['127.0.0.1']
:http_port: %d
:log_file: STDOUT
:log_level: INFO
# The shared state every stateful module inherits (settings.d/settings.yml.example).
:state_backend: etcd
:etcd_endpoints: [%s]
:etcd_ca: %s
:etcd_cert: %s
:etcd_key: %s
:etcd_prefix: /smartproxy-ha/
:etcd_node_name: %s
`, sd, n.http, strings.Join(l.endpoints(), ", "), l.pki.Path("ca.pem"), l.pki.Path("proxy.pem"), l.pki.Path("proxy-key.pem"), n.name)
	files := map[string]string{
		"logs.yml": ":enabled: true\n",
		"dns.yml":  ":enabled: true\n:use_provider: dns_embedded\n",
		// state_dir keeps the node's copy of the zones, served if it starts without quorum.
		"dns_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:%d\n:state_dir: %s\n:zones:\n  - example.test\n  - 2.0.192.in-addr.arpa\n",
			n.dns, filepath.Join(base, "dns")),
		"tftp.yml": fmt.Sprintf(":enabled: true\n:tftproot: %s\n:listen: 127.0.0.1:%d\n", filepath.Join(base, "tftpboot"), n.tftp),
		"dhcp.yml": ":enabled: true\n",
		// A loopback port instead of 67: the DHCP server runs unprivileged; no real
		// client reaches it, the shared reservations and leases are what the demo shows.
		"dhcp_embedded.yml": fmt.Sprintf(`:listen: 127.0.0.1:%d
:state_dir: %s
:subnets:
  - :network: 192.168.122.0
    :netmask: 255.255.255.0
    :range: [192.168.122.100, 192.168.122.200]
    :routers: [192.168.122.1]
    :domain_name: example.test
    :next_server: 192.168.122.1
    :filename: pxelinux.0
`, n.dhcp, filepath.Join(base, "dhcp")),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(sd, name), []byte("---\n# Written by make run-ha (contrib/hademo) at every start.\n"+body), 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(l.settingsFile(n), []byte(global), 0o600)
}
