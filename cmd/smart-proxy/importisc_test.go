package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"testing"
)

// Switching from ISC dhcpd: the subnets of dhcpd.conf become dhcp_embedded.yml
// (--print-subnets), then the reservations of dhcpd.conf (an include) and dhcpd.leases
// (Foreman's OMAPI hosts, one changed and one deleted) land in the running proxy
// through its REST API. A host outside the proxy's subnets is reported and makes the
// exit 1, and a second run changes nothing.
func TestImportISCDHCP(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	conf := writeFile(t, dir, "dhcpd.conf", `option domain-name "ignored.example.com";
subnet 192.168.122.0 netmask 255.255.255.0 {
  pool { range 192.168.122.100 192.168.122.200; }
  option routers 192.168.122.1;
  option domain-name "example.com";
  option domain-name-servers 192.168.122.1, 192.168.122.2;
  default-lease-time 3600;
  next-server 192.168.122.1;
  filename "pxelinux.0";
  include "dhcpd.hosts";
}
host elsewhere { hardware ethernet 52:54:00:00:00:02; fixed-address 10.1.2.3; }
`)
	writeFile(t, dir, "dhcpd.hosts", `host printer { hardware ethernet 0:16:3e:a:b:c; fixed-address 192.168.122.5; option host-name "printer.example.com"; }
`)
	subnets, code := runBinary(t, "import-isc-dhcp", "--print-subnets", conf)
	if code != 0 {
		t.Fatalf("--print-subnets: exit %d\n%s", code, subnets)
	}

	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dhcpPort := udp.LocalAddr().(*net.UDPAddr).Port
	udp.Close()
	px := startProxy(t, p, "", map[string]string{
		"dhcp.yml": ":enabled: true\n:ping_free_ip: false\n",
		"dhcp_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:%d\n:state_dir: %s\n:fsync: false\n%s",
			dhcpPort, t.TempDir(), subnets),
	})
	resp, err := p.client(t, nil).Get(px.httpURL + "/dhcp")
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `[{"network":"192.168.122.0","netmask":"255.255.255.0","options":{"routers":["192.168.122.1"],` +
		`"domain_name":"example.com","domain_name_servers":["192.168.122.1","192.168.122.2"],` +
		`"range":["192.168.122.100","192.168.122.200"],"filename":"pxelinux.0","lease_time":3600,"next_server":"192.168.122.1"}}]`
	if !jsonEqual(t, listing, want) {
		t.Fatalf("GET /dhcp = %s\nwant %s\nfrom:\n%s", listing, want, subnets)
	}

	leases := writeFile(t, dir, "dhcpd.leases", `host web01.example.com {
  dynamic;
  hardware ethernet 52:54:00:12:34:56;
  fixed-address 192.168.122.10;
        supersede server.filename = "pxelinux.0";
        supersede server.next-server = c0:a8:7a:01;
        supersede host-name = "web01.example.com";
}
host old.example.com {
  dynamic;
  hardware ethernet 52:54:00:00:00:99;
  fixed-address 192.168.122.99;
}
host old.example.com {
  dynamic;
  deleted;
}
`)
	for run := 1; run <= 2; run++ {
		out, code := runBinary(t, "import-isc-dhcp", "--proxy", px.httpURL, conf, leases)
		if code != 1 {
			t.Errorf("run %d: exit %d, want 1 (one host outside the subnets)", run, code)
		}
		for _, want := range []string{
			`(?m)^imported printer: 192.168.122.5 00:16:3e:0a:0b:0c in 192.168.122.0$`,
			`(?m)^imported web01.example.com: 192.168.122.10 52:54:00:12:34:56 in 192.168.122.0$`,
			`(?m)^skipped  elsewhere: no subnet of the proxy holds 10.1.2.3$`,
			`(?m)^2 imported, 1 skipped$`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("run %d: no line matches %s in:\n%s", run, want, out)
			}
		}
		if regexp.MustCompile(`old\.example\.com`).MatchString(out) {
			t.Errorf("run %d: the deleted host was imported:\n%s", run, out)
		}
	}

	// Over https with a client certificate, as Foreman reaches a production proxy.
	out, code := runBinary(t, "import-isc-dhcp", "--proxy", px.httpsURL, "--cacert", p.ca.CAFile,
		"--cert", p.trusted.CertFile, "--key", p.trusted.KeyFile, "--dry-run", conf, leases)
	if code != 1 || !regexp.MustCompile(`(?m)^would import web01.example.com: `).MatchString(out) {
		t.Errorf("over https: exit %d\n%s", code, out)
	}
	if out, code := runBinary(t, "import-isc-dhcp", "--proxy", px.httpsURL, "--cacert", p.ca.CAFile, conf); code != 1 ||
		!regexp.MustCompile(`GET \S+/dhcp: 403 Forbidden`).MatchString(out) {
		t.Errorf("https without a client certificate: exit %d\n%s", code, out)
	}

	client := p.client(t, nil)
	resp, err = client.Get(px.httpURL + "/dhcp/192.168.122.0/mac/52:54:00:12:34:56")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	for k, v := range map[string]string{"ip": "192.168.122.10", "hostname": "web01.example.com", "filename": "pxelinux.0",
		"nextServer": "192.168.122.1", "type": "reservation"} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %s (record %s)", k, rec[k], v, body)
		}
	}
	resp, err = client.Get(px.httpURL + "/dhcp/192.168.122.0/mac/52:54:00:00:00:99")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("the deleted host has a record: %s", resp.Status)
	}
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}
