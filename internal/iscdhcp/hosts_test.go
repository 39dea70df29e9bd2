package iscdhcp

import (
	"reflect"
	"strings"
	"testing"
)

// A dhcpd.conf as Foreman's installer writes it, with a static host inside a subnet
// and one inside a group.
const dhcpdConf = `# dhcpd.conf
omapi-port 7911;
key omapi_key { algorithm HMAC-MD5; secret "c2VjcmV0"; };
omapi-key omapi_key;
default-lease-time 43200;
option domain-name "example.com";

subnet 192.168.122.0 netmask 255.255.255.0 {
  pool { range 192.168.122.100 192.168.122.200; }
  option routers 192.168.122.1;
  host printer {
    hardware ethernet 0:16:3E:A:B:C;   # dhcpd accepts single-digit octets
    fixed-address 192.168.122.5;
    option host-name "printer.example.com";
  }
}
group {
  filename "pxelinux.0";
  next-server 192.168.122.1;
  host "build01" { hardware ethernet 52:54:00:00:00:01; fixed-address 192.168.122.21; filename "grub2/grubx64.efi"; }
}
`

// dhcpd.leases with OMAPI hosts as dhcpd writes them for Foreman's dhcp_isc provider:
// values in hex, one host changed and one deleted after it was created.
const dhcpdLeases = `# The format of this file is documented in the dhcpd.leases(5) manual page.
lease 192.168.122.150 {
  starts 4 2026/11/19 10:00:00;
  ends 4 2026/11/19 22:00:00;
  binding state active;
  hardware ethernet 52:54:00:aa:bb:cc;
  client-hostname "laptop";
}
host web01.example.com {
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
host web01.example.com {
  dynamic;
  hardware ethernet 52:54:00:12:34:56;
  fixed-address 192.168.122.11;
        supersede server.filename = "grub2/grubx64.efi";
        supersede server.next-server = c0:a8:7a:01;
        supersede host-name = "web01.example.com";
}
host old.example.com {
  dynamic;
  deleted;
}
`

func TestHostsOfBothFiles(t *testing.T) {
	conf, err := Hosts(dhcpdConf)
	if err != nil {
		t.Fatal(err)
	}
	leases, err := Hosts(dhcpdLeases)
	if err != nil {
		t.Fatal(err)
	}
	got := Merge(append(conf, leases...))
	want := []Host{
		{Name: "printer", MAC: "00:16:3e:0a:0b:0c", IP: "192.168.122.5", Hostname: "printer.example.com"},
		{Name: "build01", MAC: "52:54:00:00:00:01", IP: "192.168.122.21", Filename: "grub2/grubx64.efi"},
		{Name: "web01.example.com", MAC: "52:54:00:12:34:56", IP: "192.168.122.11", Hostname: "web01.example.com",
			Filename: "grub2/grubx64.efi", NextServer: "192.168.122.1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestMalformedFilesAreErrors(t *testing.T) {
	for name, src := range map[string]string{
		"unterminated string": `host a { option host-name "x; }`,
		"missing brace":       "host a { hardware ethernet 52:54:00:00:00:01;",
		"stray brace":         "option domain-name \"x\";\n}\n",
		"missing semicolon":   "host a { fixed-address 10.0.0.1 }",
		"host without name":   "host { }",
	} {
		if _, err := Hosts(src); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	_, err := Hosts("subnet 10.0.0.0 netmask 255.0.0.0 {\n  host a {\n    fixed-address 10.0.0.1\n  }\n}\n")
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error should name the line: %v", err)
	}
}

func FuzzHosts(f *testing.F) {
	f.Add(dhcpdConf)
	f.Add(dhcpdLeases)
	f.Add(`host "a\"b" { supersede server.next-server = zz:1:2:3; }`)
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = Includes(src)
		_, _ = Subnets(src)
		hosts, err := Hosts(src)
		if err != nil {
			return
		}
		for _, h := range Merge(hosts) {
			if h.Deleted {
				t.Fatalf("Merge kept a deleted host: %+v", h)
			}
		}
	})
}

func TestIncludes(t *testing.T) {
	got, err := Includes(`include "/etc/dhcp/dhcpd.hosts";
subnet 10.0.0.0 netmask 255.0.0.0 { include "/etc/dhcp/subnet.conf"; option domain-name "include"; }
option x "y"; # include "/commented/out";
`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/etc/dhcp/dhcpd.hosts", "/etc/dhcp/subnet.conf"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSubnets(t *testing.T) {
	got, err := Subnets(dhcpdConf + `
shared-network lab {
  subnet 10.20.0.0 netmask 255.255.0.0 {
    option routers 10.20.0.1, 10.20.0.2;
    option domain-name-servers 10.20.0.53 , 10.20.0.54;
    option ntp-servers 10.20.0.123;
    option domain-name "lab.example.com";
    option interface-mtu 9000;
    default-lease-time 600;
    next-server c0:a8:7a:01;
    filename "grub2/grubx64.efi";
    range dynamic-bootp 10.20.1.10 10.20.1.99;
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Subnet{
		{Network: "192.168.122.0", Netmask: "255.255.255.0", Range: []string{"192.168.122.100", "192.168.122.200"},
			Routers: []string{"192.168.122.1"}},
		{Network: "10.20.0.0", Netmask: "255.255.0.0", Range: []string{"10.20.1.10", "10.20.1.99"},
			Routers: []string{"10.20.0.1", "10.20.0.2"}, DNSServers: []string{"10.20.0.53", "10.20.0.54"},
			NTPServers: []string{"10.20.0.123"}, DomainName: "lab.example.com", NextServer: "192.168.122.1",
			Filename: "grub2/grubx64.efi", LeaseTime: 600, MTU: 9000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The hosts inside subnets are still found.
	hosts, err := Hosts(dhcpdConf)
	if err != nil || len(hosts) != 2 || hosts[0].Name != "printer" {
		t.Fatalf("hosts %+v, %v", hosts, err)
	}
}
