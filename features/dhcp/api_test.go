package dhcp_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// embeddedFiles configures dhcp with the embedded provider on an ephemeral
// loopback port (no root, no DHCP traffic) and its state in a temp dir.
func embeddedFiles(t *testing.T, dhcpYAML string) map[string]string {
	t.Helper()
	return map[string]string{
		"dhcp.yml": ":enabled: true\n:ping_free_ip: false\n" + dhcpYAML,
		"dhcp_embedded.yml": fmt.Sprintf(`
:listen: 127.0.0.1:0
:state_dir: %s
:subnets:
  - :network: 192.168.122.0
    :netmask: 255.255.255.0
    :range: [192.168.122.100, 192.168.122.200]
    :routers: [192.168.122.1]
    :domain_name: example.com
    :domain_name_servers: [192.168.122.1, 192.168.122.2]
    :ntp_servers: [192.168.122.3]
    :interface_mtu: 1500
    :lease_time: 3600
    :next_server: 192.168.122.1
    :filename: pxelinux.0
  - :network: 10.20.0.0
    :netmask: 255.255.255.248
`, t.TempDir()),
	}
}

func startEmbedded(t *testing.T) *proxytest.Proxy {
	t.Helper()
	p := proxytest.Start(t, "", embeddedFiles(t, ""), dhcp.New())
	if s := p.State("dhcp"); s != "running" {
		t.Fatalf("dhcp state = %s, want running", s)
	}
	return p
}

type want struct {
	status int
	body   string // exact body; "" means not checked
}

func check(t *testing.T, p *proxytest.Proxy, method, path string, form url.Values, w want) proxytest.Response {
	t.Helper()
	r := p.Do(t, method, path, form)
	if r.Status != w.status {
		t.Fatalf("%s %s: status %d (body %q), want %d", method, path, r.Status, r.Body, w.status)
	}
	if w.body != "" && r.Body != w.body {
		t.Fatalf("%s %s: body %q, want %q", method, path, r.Body, w.body)
	}
	return r
}

func reservationForm(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func TestListSubnets(t *testing.T) {
	p := startEmbedded(t)
	for _, path := range []string{"/dhcp", "/dhcp/"} {
		r := check(t, p, http.MethodGet, path, nil, want{status: 200})
		var got []map[string]any
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
			t.Fatal(err)
		}
		wantJSON := `[{"network":"192.168.122.0","netmask":"255.255.255.0","options":{
			"routers":["192.168.122.1"],"domain_name":"example.com",
			"domain_name_servers":["192.168.122.1","192.168.122.2"],"ntp_servers":["192.168.122.3"],
			"interface_mtu":1500,"range":["192.168.122.100","192.168.122.200"],
			"lease_time":3600,"next_server":"192.168.122.1","filename":"pxelinux.0"}},
			{"network":"10.20.0.0","netmask":"255.255.255.248","options":{"lease_time":43200}}]`
		var exp []map[string]any
		if err := json.Unmarshal([]byte(wantJSON), &exp); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("GET %s = %s\nwant %s", path, r.Body, wantJSON)
		}
	}
}

func TestBadAddressesAndUnknownSubnets(t *testing.T) {
	p := startEmbedded(t)
	cases := []struct {
		method, path string
		want
	}{
		{"GET", "/dhcp/192.168.1", want{400, "Invalid IP Address 192.168.1"}},
		{"GET", "/dhcp/192.168.1.i", want{400, "Invalid IP Address 192.168.1.i"}},
		{"GET", "/dhcp/392.88.99.255", want{400, "Invalid IP Address 392.88.99.255"}},
		{"GET", "/dhcp/fd00::1", want{400, "Invalid IP Address fd00::1"}},
		{"GET", "/dhcp/10.1.1.0", want{404, "Subnet 10.1.1.0 could not found"}},
		{"GET", "/dhcp/10.1.1.0/unused_ip", want{404, "Subnet 10.1.1.0 could not found"}},
		{"GET", "/dhcp/10.1.1.0/ip/10.1.1.1", want{404, "Subnet 10.1.1.0 could not found"}},
		{"GET", "/dhcp/10.1.1.0/mac/aa:bb:cc:dd:ee:ff", want{404, "Subnet 10.1.1.0 could not found"}},
		{"GET", "/dhcp/192.168.122.0/ip/192.168.122", want{400, "Invalid IP Address 192.168.122"}},
		{"GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:00:11:22:33", want{400, "Invalid MAC aa:bb:cc:00:11:22:33"}},
		{"GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:00:11", want{400, "Invalid MAC aa:bb:cc:00:11"}},
		{"GET", "/dhcp/192.168.122.0/mac/zz:bb:cc:00:11:22", want{400, "Invalid MAC zz:bb:cc:00:11:22"}},
		{"GET", "/dhcp/192.168.122.0/ip/192.168.122.99", want{404, "No DHCP records for IP 192.168.122.0/192.168.122.99 found"}},
		{"GET", "/dhcp/192.168.122.0/mac/AA:BB:CC:DD:EE:FF", want{404, "No DHCP record for MAC 192.168.122.0/aa:bb:cc:dd:ee:ff found"}},
		{"DELETE", "/dhcp/10.1.1.0/mac/aa:bb:cc:dd:ee:ff", want{200, ""}},
		{"DELETE", "/dhcp/10.1.1.0/ip/10.1.1.5", want{200, ""}},
		{"DELETE", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:ff", want{200, ""}},
		{"DELETE", "/dhcp/192.168.122.0/ip/192.168.122.5", want{200, ""}},
		{"DELETE", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:zz", want{400, "Invalid MAC aa:bb:cc:dd:ee:zz"}},
		{"DELETE", "/dhcp/192.168.122.0/ip/192.168.1.i", want{400, "Invalid IP Address 192.168.1.i"}},
		{"DELETE", "/dhcp/192.168.1/ip/192.168.1.1", want{400, "Invalid IP Address 192.168.1"}},
		{"GET", "/dhcp/192.168.122.0/nothing/here", want{404, "Requested url was not found"}},
		{"PUT", "/dhcp/192.168.122.0", want{404, "Requested url was not found"}},
	}
	for _, c := range cases {
		check(t, p, c.method, c.path, nil, c.want)
	}
	// Subnet found by an address inside it (spec §5.1), empty lists are arrays.
	check(t, p, "GET", "/dhcp/192.168.122.77", nil, want{200, `{"reservations":[],"leases":[]}`})
}

func TestCreateLookupDelete(t *testing.T) {
	p := startEmbedded(t)
	form := reservationForm("hostname", "host1.example.com", "mac", "AA:BB:CC:DD:EE:01", "ip", "192.168.122.10",
		"network", "10.99.99.99", "subnet", "ignored", "nextServer", "192.168.122.1", "filename", "pxelinux.0")
	check(t, p, "POST", "/dhcp/192.168.122.0", form, want{200, ""})

	r := check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:01", nil, want{status: 200})
	wantRecord := map[string]any{"name": "host1.example.com", "ip": "192.168.122.10", "mac": "aa:bb:cc:dd:ee:01",
		"subnet": "192.168.122.0/255.255.255.0", "type": "reservation", "hostname": "host1.example.com",
		"deleteable": true, "nextServer": "192.168.122.1", "filename": "pxelinux.0"}
	assertJSON(t, r.Body, wantRecord)
	// Upper-case lookups are normalised.
	check(t, p, "GET", "/dhcp/192.168.122.0/mac/AA:BB:CC:DD:EE:01", nil, want{200, r.Body})

	r = check(t, p, "GET", "/dhcp/192.168.122.0/ip/192.168.122.10", nil, want{status: 200})
	assertJSON(t, r.Body, []any{wantRecord})
	r = check(t, p, "GET", "/dhcp/192.168.122.0", nil, want{status: 200})
	assertJSON(t, r.Body, map[string]any{"reservations": []any{wantRecord}, "leases": []any{}})

	// The same create again is a no-op; anything else on that IP or MAC conflicts.
	check(t, p, "POST", "/dhcp/192.168.122.0", form, want{200, ""})
	conflict := "Record 192.168.122.0/192.168.122.10 already exists"
	other := reservationForm("hostname", "host2", "mac", "aa:bb:cc:dd:ee:02", "ip", "192.168.122.10")
	check(t, p, "POST", "/dhcp/192.168.122.0", other, want{409, conflict})
	sameMAC := reservationForm("hostname", "host1.example.com", "mac", "aa:bb:cc:dd:ee:01", "ip", "192.168.122.11")
	check(t, p, "POST", "/dhcp/192.168.122.0", sameMAC, want{409, "Record 192.168.122.0/192.168.122.11 already exists"})
	changed := reservationForm("hostname", "host1.example.com", "mac", "aa:bb:cc:dd:ee:01", "ip", "192.168.122.10", "filename", "grubx64.efi")
	check(t, p, "POST", "/dhcp/192.168.122.0", changed, want{409, conflict})

	// related_macs[]: a bonded interface may share the IP.
	bond := reservationForm("hostname", "host1-bond", "mac", "aa:bb:cc:dd:ee:02", "ip", "192.168.122.10",
		"related_macs[]", "AA:BB:CC:DD:EE:01")
	check(t, p, "POST", "/dhcp/192.168.122.0", bond, want{200, ""})
	r = check(t, p, "GET", "/dhcp/192.168.122.0/ip/192.168.122.10", nil, want{status: 200})
	var both []map[string]any
	if err := json.Unmarshal([]byte(r.Body), &both); err != nil || len(both) != 2 {
		t.Fatalf("records by IP after bond = %s (%v), want 2", r.Body, err)
	}

	// Delete by MAC removes one; delete by IP removes every reservation with that IP.
	check(t, p, "DELETE", "/dhcp/192.168.122.0/mac/AA:BB:CC:DD:EE:02", nil, want{200, ""})
	check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:02", nil, want{404, "No DHCP record for MAC 192.168.122.0/aa:bb:cc:dd:ee:02 found"})
	check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:01", nil, want{status: 200})
	check(t, p, "POST", "/dhcp/192.168.122.0", bond, want{200, ""})
	check(t, p, "DELETE", "/dhcp/192.168.122.0/ip/192.168.122.10", nil, want{200, ""})
	check(t, p, "GET", "/dhcp/192.168.122.0/ip/192.168.122.10", nil, want{404, "No DHCP records for IP 192.168.122.0/192.168.122.10 found"})
	check(t, p, "GET", "/dhcp/192.168.122.0", nil, want{200, `{"reservations":[],"leases":[]}`})
}

func TestCreateValidation(t *testing.T) {
	p := startEmbedded(t)
	cases := []struct {
		name string
		path string
		form url.Values
		want
	}{
		{"bad network", "/dhcp/192.168.1", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff", "ip", "192.168.122.5"), want{400, "Invalid IP Address 192.168.1"}},
		{"no ip", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff"), want{400, "Invalid IP Address "}},
		{"bad ip", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff", "ip", "192.168.1.i"), want{400, "Invalid IP Address 192.168.1.i"}},
		{"bad mac", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:zz", "ip", "192.168.122.5"), want{400, "Invalid MAC aa:bb:cc:dd:ee:zz"}},
		{"no name", "/dhcp/192.168.122.0", reservationForm("mac", "aa:bb:cc:dd:ee:ff", "ip", "192.168.122.5"), want{400, "Must provide hostname"}},
		{"unknown subnet", "/dhcp/10.1.1.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff", "ip", "10.1.1.5"), want{400, "No Subnet detected for: 10.1.1.0"}},
		{"vendor options", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff", "ip", "192.168.122.5", "<SUNW.root-server-ip>", "1.2.3.4"), want{400, "DHCP implementation does not support Vendor Options"}},
		{"ip outside subnet", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:ff", "ip", "10.20.0.1"), want{400, "IP 10.20.0.1 is not a host address of subnet 192.168.122.0/255.255.255.0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, p, "POST", c.path, c.form, c.want) })
	}
	check(t, p, "GET", "/dhcp/192.168.122.0", nil, want{200, `{"reservations":[],"leases":[]}`})
}

func TestNameHostnameAndOptions(t *testing.T) {
	p := startEmbedded(t)
	// Only "name": it becomes the hostname option too. Other fields are kept as options.
	check(t, p, "POST", "/dhcp/192.168.122.0", reservationForm("name", "only-name", "mac", "aa:bb:cc:dd:ee:03", "ip", "192.168.122.13", "foo", "bar"), want{200, ""})
	r := check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:03", nil, want{status: 200})
	assertJSON(t, r.Body, map[string]any{"name": "only-name", "hostname": "only-name", "foo": "bar", "ip": "192.168.122.13",
		"mac": "aa:bb:cc:dd:ee:03", "subnet": "192.168.122.0/255.255.255.0", "type": "reservation", "deleteable": true})
	// Both given: name is the record name, hostname the option.
	check(t, p, "POST", "/dhcp/192.168.122.0", reservationForm("name", "rec", "hostname", "host.example.com", "mac", "aa:bb:cc:dd:ee:04", "ip", "192.168.122.14"), want{200, ""})
	r = check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:04", nil, want{status: 200})
	assertJSON(t, r.Body, map[string]any{"name": "rec", "hostname": "host.example.com", "ip": "192.168.122.14",
		"mac": "aa:bb:cc:dd:ee:04", "subnet": "192.168.122.0/255.255.255.0", "type": "reservation", "deleteable": true})
	// A 20-octet InfiniBand MAC is a valid record key.
	ib := "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:0b:0c"
	check(t, p, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "ib", "mac", strings.ToUpper(ib), "ip", "192.168.122.15"), want{200, ""})
	r = check(t, p, "GET", "/dhcp/192.168.122.0/mac/"+ib, nil, want{status: 200})
	if !strings.Contains(r.Body, `"mac":"`+ib+`"`) {
		t.Fatalf("IB record = %s", r.Body)
	}
	// _method=DELETE in a POST form is a delete (Rack MethodOverride).
	check(t, p, "POST", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:03", url.Values{"_method": {"DELETE"}}, want{200, ""})
	check(t, p, "GET", "/dhcp/192.168.122.0/mac/aa:bb:cc:dd:ee:03", nil, want{status: 404})
}

func TestUnusedIP(t *testing.T) {
	p := startEmbedded(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		ip := unusedIP(t, p, "/dhcp/192.168.122.0/unused_ip?from=192.168.122.100&to=192.168.122.200")
		if ip == nil || seen[*ip] || !inRange(*ip, "192.168.122.100", "192.168.122.200") {
			t.Fatalf("unused_ip #%d = %v (seen %v)", i, ip, seen)
		}
		seen[*ip] = true
	}
	// from/to narrow the range; a reserved address is never suggested.
	check(t, p, "POST", "/dhcp/192.168.122.0", reservationForm("hostname", "h", "mac", "aa:bb:cc:dd:ee:05", "ip", "192.168.122.50"), want{200, ""})
	ip := unusedIP(t, p, "/dhcp/192.168.122.0/unused_ip?from=192.168.122.50&to=192.168.122.51")
	if ip == nil || *ip != "192.168.122.51" {
		t.Fatalf("unused_ip in 50..51 = %v, want 192.168.122.51", ip)
	}
	if ip := unusedIP(t, p, "/dhcp/192.168.122.0/unused_ip?from=192.168.122.50&to=192.168.122.51"); ip != nil {
		t.Fatalf("second unused_ip in 50..51 = %v, want null (51 was just suggested)", *ip)
	}
	// The MAC's own reservation comes back, inside the range.
	if ip := unusedIP(t, p, "/dhcp/192.168.122.0/unused_ip?mac=AA:BB:CC:DD:EE:05"); ip == nil || *ip != "192.168.122.50" {
		t.Fatalf("unused_ip for reserved MAC = %v, want 192.168.122.50", ip)
	}
	// A /29 has 6 usable addresses; the seventh call finds none.
	for i := 0; i < 6; i++ {
		if ip := unusedIP(t, p, "/dhcp/10.20.0.0/unused_ip"); ip == nil {
			t.Fatalf("unused_ip #%d in /29 = null", i)
		}
	}
	check(t, p, "GET", "/dhcp/10.20.0.0/unused_ip", nil, want{200, `{"ip":null}`})

	cases := []struct {
		query string
		want
	}{
		{"from=192.168.122.60&to=192.168.122.50", want{400, "192.168.122.60 can't be lower IP address than 192.168.122.50 - change the order?"}},
		{"from=192.168.122.60&to=10.0.0.1", want{400, "Range does not belong to provided subnet"}},
		{"from=192.168.122.60&to=192.168.122", want{400, "Invalid IP Address 192.168.122"}},
		{"mac=aa:bb", want{400, "Invalid MAC aa:bb"}},
	}
	for _, c := range cases {
		check(t, p, "GET", "/dhcp/192.168.122.0/unused_ip?"+c.query, nil, c.want)
	}
}

func TestUnusedIPConcurrentCallersGetDifferentAddresses(t *testing.T) {
	p := startEmbedded(t)
	const callers = 6 // the /29 has exactly 6 usable addresses
	got := make(chan *string, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.Do(t, "GET", "/dhcp/10.20.0.0/unused_ip", nil)
			var reply struct{ IP *string }
			_ = json.Unmarshal([]byte(r.Body), &reply)
			got <- reply.IP
		}()
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for ip := range got {
		if ip == nil || seen[*ip] {
			t.Fatalf("concurrent unused_ip gave %v twice or null (seen %v)", ip, seen)
		}
		seen[*ip] = true
	}
}

func inRange(ip, first, last string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && netip.MustParseAddr(first).Compare(a) <= 0 && a.Compare(netip.MustParseAddr(last)) <= 0
}

func unusedIP(t *testing.T, p *proxytest.Proxy, path string) *string {
	t.Helper()
	r := check(t, p, "GET", path, nil, want{status: 200})
	var reply struct {
		IP *string `json:"ip"`
	}
	if err := json.Unmarshal([]byte(r.Body), &reply); err != nil {
		t.Fatalf("GET %s = %q: %v", path, r.Body, err)
	}
	return reply.IP
}

func TestPingFreeIPSkipsLiveAddresses(t *testing.T) {
	// 127.77.0.0/30: both usable addresses are on loopback, where a TCP connect to
	// port 7 is refused, which counts as alive (as in the Ruby proxy).
	files := map[string]string{
		"dhcp.yml":          ":enabled: true\n",
		"dhcp_embedded.yml": fmt.Sprintf(":listen: 127.0.0.1:0\n:state_dir: %s\n:subnets:\n  - :network: 127.77.0.0\n    :netmask: 255.255.255.252\n", t.TempDir()),
	}
	p := proxytest.Start(t, "", files, dhcp.New())
	if state, err := p.Registry.StateOf("dhcp"); state != "running" {
		t.Fatalf("dhcp state %s: %v", state, err)
	}
	check(t, p, "GET", "/dhcp/127.77.0.0/unused_ip", nil, want{200, `{"ip":null}`})
}

func TestV2FeaturesAndUnknownProvider(t *testing.T) {
	p := startEmbedded(t)
	r := check(t, p, "GET", "/v2/features", nil, want{status: 200})
	var v2 map[string]struct {
		State        string         `json:"state"`
		Settings     map[string]any `json:"settings"`
		Capabilities []string       `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(r.Body), &v2); err != nil {
		t.Fatal(err)
	}
	d := v2["dhcp"]
	if d.State != "running" || d.Settings["use_provider"] != "dhcp_embedded" ||
		strings.Join(d.Capabilities, ",") != "dhcp_filename_hostname,dhcp_filename_ipv4" {
		t.Fatalf("v2 dhcp = %+v", d)
	}
	if _, listed := v2["dhcp_embedded"]; listed {
		t.Fatal("the provider is listed in /v2/features")
	}

	failed := proxytest.Start(t, "", embeddedFiles(t, ":use_provider: dhcp_isc\n"), dhcp.New())
	state, err := failed.Registry.StateOf("dhcp")
	if state != "failed" || err == nil || !strings.Contains(err.Error(), `unknown provider "dhcp_isc"`) {
		t.Fatalf("dhcp with dhcp_isc: state %s, err %v", state, err)
	}
	check(t, failed, "GET", "/dhcp", nil, want{404, "Requested url was not found"})
}

func TestPortInUseFailsTheFeature(t *testing.T) {
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	files := embeddedFiles(t, "")
	files["dhcp_embedded.yml"] = strings.Replace(files["dhcp_embedded.yml"], ":listen: 127.0.0.1:0", ":listen: "+taken.LocalAddr().String(), 1)
	p := proxytest.Start(t, "", files, dhcp.New())
	state, err := p.Registry.StateOf("dhcp")
	want := "DHCP server cannot listen on " + taken.LocalAddr().String()
	if state != "failed" || err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("dhcp with its port taken: %s, %v; want failed with %q", state, err, want)
	}
}

func assertJSON(t *testing.T, body string, want any) {
	t.Helper()
	var got any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	wantBytes, _ := json.Marshal(want)
	var norm any
	_ = json.Unmarshal(wantBytes, &norm)
	if fmt.Sprint(got) != fmt.Sprint(norm) {
		t.Fatalf("body %s\nwant %s", body, wantBytes)
	}
}

// sameJSON compares two JSON texts ignoring key order.
func sameJSON(t *testing.T, body, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	assertJSON(t, body, w)
}
