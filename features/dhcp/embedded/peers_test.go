package embedded_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// serverSettings is dhcp_embedded.yml for the server namespace of l.
func serverSettings(l *link, stateDir, extra string) string {
	return fmt.Sprintf(`
:netns: %s
:interfaces: [%s]
:state_dir: %s
:subnets:
  - :network: 10.99.0.0
    :netmask: 255.255.0.0
    :range: [10.99.1.1, 10.99.1.250]
    :routers: [10.99.0.1]
    :domain_name_servers: [10.99.0.53, 10.99.0.54]
    :domain_name: example.test
    :lease_time: 600
%s`, l.serverNS, l.serverIf, stateDir, extra)
}

// startProxy runs the dhcp feature with the embedded server inside l's server namespace.
func startProxy(t *testing.T, l *link, extra string) (*proxytest.Proxy, string) {
	t.Helper()
	stateDir := t.TempDir()
	p := proxytest.Start(t, "", map[string]string{
		"dhcp.yml":          ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": serverSettings(l, stateDir, extra),
	}, dhcp.New())
	if state, err := p.Registry.StateOf("dhcp"); state != "running" {
		t.Fatalf("dhcp is %s: %v", state, err)
	}
	return p, stateDir
}

func TestUdhcpcGetsDynamicLease(t *testing.T) {
	l := newLink(t, "10.99.0.1/16", "")
	p, stateDir := startProxy(t, l, "")
	env := udhcpc(t, l)
	ip := env["ip"]
	if !strings.HasPrefix(ip, "10.99.1.") {
		t.Fatalf("udhcpc ip = %q, want one from 10.99.1.1-250", ip)
	}
	fatalIfNot(t, "mask", env["mask"], "16")
	fatalIfNot(t, "router", env["router"], "10.99.0.1")
	fatalIfNot(t, "dns", env["dns"], "10.99.0.53 10.99.0.54")
	fatalIfNot(t, "domain", env["domain"], "example.test")
	fatalIfNot(t, "lease", env["lease"], "600")
	fatalIfNot(t, "serverid", env["serverid"], "10.99.0.1")

	// The lease is reported by the API and is in the journal.
	mac := l.clientMAC(t)
	r := p.Do(t, "GET", "/dhcp/10.99.0.0/mac/"+mac, nil)
	var lease map[string]any
	if err := json.Unmarshal([]byte(r.Body), &lease); err != nil || r.Status != 200 {
		t.Fatalf("GET lease: %d %s", r.Status, r.Body)
	}
	if lease["ip"] != ip || lease["type"] != "lease" || lease["state"] != "active" || lease["name"] != "lease-"+strings.ReplaceAll(mac, ":", "") {
		t.Fatalf("lease record = %v, want active lease of %s for %s", lease, ip, mac)
	}
	journal, err := os.ReadFile(filepath.Join(stateDir, "dhcp_embedded.journal"))
	if err != nil || !strings.Contains(string(journal), `"ip":"`+ip+`","mac":"`+mac+`"`) {
		t.Fatalf("journal lacks the lease of %s: %v\n%s", ip, err, journal)
	}

	// The same client comes back to the same address.
	if again := udhcpc(t, l); again["ip"] != ip {
		t.Fatalf("second udhcpc run got %s, want %s again", again["ip"], ip)
	}

	// Two DORA exchanges: at least four replies, counted on the proxy's /metrics page.
	page := p.Do(t, "GET", "/metrics", nil).Body
	var replies float64
	i := strings.Index(page, "\nsmartproxy_dhcp_replies_total ")
	if i < 0 {
		t.Fatalf("no smartproxy_dhcp_replies_total on /metrics:\n%s", page)
	}
	if _, err := fmt.Sscanf(page[i+1:], "smartproxy_dhcp_replies_total %g", &replies); err != nil || replies < 4 {
		t.Fatalf("smartproxy_dhcp_replies_total = %v (%v), want >= 4:\n%s", replies, err, page)
	}
}

func TestReservationServedToUdhcpcAndDhclient(t *testing.T) {
	l := newLink(t, "10.99.0.1/16", "")
	p, _ := startProxy(t, l, "")
	mac := strings.ToUpper(l.clientMAC(t))
	form := url.Values{"hostname": {"pxe-host.example.test"}, "name": {"pxe-host.example.test"}, "mac": {mac},
		"ip": {"10.99.7.7"}, "network": {"10.99.0.0"}, "nextServer": {"10.99.0.69"}, "filename": {"pxelinux.0"}}
	if r := p.Do(t, "POST", "/dhcp/10.99.0.0", form); r.Status != 200 || r.Body != "" {
		t.Fatalf("POST reservation: %d %q", r.Status, r.Body)
	}

	env := udhcpc(t, l)
	fatalIfNot(t, "udhcpc ip", env["ip"], "10.99.7.7")
	fatalIfNot(t, "udhcpc hostname", env["hostname"], "pxe-host.example.test")
	fatalIfNot(t, "udhcpc siaddr", env["siaddr"], "10.99.0.69")
	fatalIfNot(t, "udhcpc boot_file", env["boot_file"], "pxelinux.0")

	env = dhclient(t, l)
	fatalIfNot(t, "dhclient ip", env["new_ip_address"], "10.99.7.7")
	fatalIfNot(t, "dhclient host name", env["new_host_name"], "pxe-host.example.test")
	fatalIfNot(t, "dhclient filename", env["new_filename"], "pxelinux.0")
	fatalIfNot(t, "dhclient next server", env["new_next_server"], "10.99.0.69")
	fatalIfNot(t, "dhclient lease time", env["new_dhcp_lease_time"], "600")

	// Deleting the reservation makes the client dynamic again, at once.
	if r := p.Do(t, "DELETE", "/dhcp/10.99.0.0/mac/"+mac, nil); r.Status != 200 {
		t.Fatalf("DELETE reservation: %d %q", r.Status, r.Body)
	}
	if env := udhcpc(t, l); !strings.HasPrefix(env["ip"], "10.99.1.") {
		t.Fatalf("after delete udhcpc got %s, want a pool address", env["ip"])
	}
}
