package embedded_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestAcceptedReservationServedToUdhcpc: a reservation the API refused leaves the
// client its dynamic lease (before issue 15 a 70,000-byte hostname was stored and the
// client got no lease at all: the reply did not fit a datagram), and one the API
// accepted at every limit (253-byte hostname, 127-byte filename, next-server by
// name) reaches busybox udhcpc whole.
func TestAcceptedReservationServedToUdhcpc(t *testing.T) {
	l := newLink(t, "10.99.0.1/16", "")
	p, _ := startProxy(t, l, "")
	mac := l.clientMAC(t)
	refused := url.Values{"hostname": {strings.Repeat("a", 70000)}, "mac": {mac}, "ip": {"10.99.7.8"}, "filename": {strings.Repeat("f", 70000)}}
	if r := p.Do(t, "POST", "/dhcp/10.99.0.0", refused); r.Status != 400 || !strings.HasPrefix(r.Body, "Invalid hostname ") {
		t.Fatalf("POST 70,000-byte hostname: %d %q, want 400 Invalid hostname", r.Status, r.Body)
	}
	if env := udhcpc(t, l); !strings.HasPrefix(env["ip"], "10.99.1.") {
		t.Fatalf("after a refused reservation udhcpc got %q, want a pool address", env["ip"])
	}

	label := strings.Repeat("h", 63)
	hostname := label + "." + label + "." + label + "." + strings.Repeat("x", 61) // 253 bytes
	filename := "/" + strings.Repeat("f", 126)                                    // 127 bytes
	accepted := url.Values{"hostname": {hostname}, "name": {hostname}, "mac": {mac}, "ip": {"10.99.7.8"},
		"nextServer": {"localhost"}, "filename": {filename}}
	if r := p.Do(t, "POST", "/dhcp/10.99.0.0", accepted); r.Status != 200 || r.Body != "" {
		t.Fatalf("POST reservation at the limits: %d %q", r.Status, r.Body)
	}
	env := udhcpc(t, l)
	fatalIfNot(t, "udhcpc ip", env["ip"], "10.99.7.8")
	fatalIfNot(t, "udhcpc hostname", env["hostname"], hostname)
	fatalIfNot(t, "udhcpc boot_file", env["boot_file"], filename)
	fatalIfNot(t, "udhcpc sname", env["sname"], "localhost")
	fatalIfNot(t, "udhcpc siaddr", env["siaddr"], "127.0.0.1")
}
