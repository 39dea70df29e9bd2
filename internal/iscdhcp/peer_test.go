package iscdhcp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The files a real ISC dhcpd (Debian's isc-dhcp-server) writes when reservations are
// created and removed over OMAPI with omshell, the way Foreman's dhcp_isc provider
// does, read back as the hosts dhcpd itself would serve.
func TestRealDhcpdOMAPIHosts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	dhcpd, err1 := exec.LookPath("dhcpd")
	omshell, err2 := exec.LookPath("omshell")
	if err1 != nil || err2 != nil {
		t.Skip("dhcpd or omshell missing (apt-get install isc-dhcp-server)")
	}
	ns := fmt.Sprintf("spisc-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	run("ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	run("ip", "-n", ns, "addr", "add", "192.168.122.1/24", "dev", "d0")
	run("ip", "-n", ns, "link", "set", "d0", "up")
	run("ip", "-n", ns, "link", "set", "d1", "up")

	dir := t.TempDir()
	conf := filepath.Join(dir, "dhcpd.conf")
	leases := filepath.Join(dir, "dhcpd.leases")
	const secret = "c2VjcmV0c2VjcmV0c2VjcmV0"
	writeTestFile(t, conf, `omapi-port 7911;
key omapi_key { algorithm HMAC-MD5; secret "`+secret+`"; };
omapi-key omapi_key;
subnet 192.168.122.0 netmask 255.255.255.0 {
  range 192.168.122.100 192.168.122.200;
  host printer { hardware ethernet 0:16:3e:a:b:c; fixed-address 192.168.122.5; option host-name "printer.example.com"; }
}
`)
	writeTestFile(t, leases, "")
	server := exec.Command("ip", "netns", "exec", ns, dhcpd, "-f", "-4", "-cf", conf, "-lf", leases, "-pf", filepath.Join(dir, "pid"), "d0")
	var log strings.Builder
	server.Stdout, server.Stderr = &log, &log
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	})

	// What Foreman's dhcp_isc provider sends: the next server as hex octets.
	script := "server 127.0.0.1\nport 7911\nkey omapi_key " + secret + "\nconnect\n" +
		omapiHost("web01.example.com", "192.168.122.10", "52:54:00:12:34:56",
			`filename = \"pxelinux.0\"; next-server = c0:a8:7a:01; option host-name = \"web01.example.com\";`) +
		omapiHost("old.example.com", "192.168.122.99", "52:54:00:00:00:99", "") +
		"new host\nset name = \"old.example.com\"\nopen\nremove\n" +
		omapiHost("web02.example.com", "192.168.122.11", "52:54:00:ab:cd:ef", `filename = \"grub2/grubx64.efi\";`)
	var out []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cmd := exec.Command("ip", "netns", "exec", ns, omshell)
		cmd.Stdin = strings.NewReader(script)
		out, _ = cmd.CombinedOutput()
		if !strings.Contains(string(out), "connection refused") && strings.Count(string(out), "obj: host") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("omshell:\n%s\ndhcpd:\n%s", out, log.String())
		}
	}
	var leaseText []byte
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(string(leaseText), "web02.example.com"); time.Sleep(50 * time.Millisecond) {
		leaseText, _ = os.ReadFile(leases)
		if time.Now().After(deadline) {
			t.Fatalf("dhcpd did not write the hosts:\n%s\nomshell:\n%s", leaseText, out)
		}
	}

	confText, _ := os.ReadFile(conf)
	subnets, err := Subnets(string(confText))
	if err != nil || len(subnets) != 1 || subnets[0].Network != "192.168.122.0" ||
		!reflect.DeepEqual(subnets[0].Range, []string{"192.168.122.100", "192.168.122.200"}) {
		t.Fatalf("subnets of the file dhcpd served: %+v, %v", subnets, err)
	}

	var all []Host
	for _, path := range []string{conf, leases} {
		src, _ := os.ReadFile(path)
		hosts, err := Hosts(string(src))
		if err != nil {
			t.Fatalf("%s: %v\n%s", path, err, src)
		}
		all = append(all, hosts...)
	}
	want := []Host{
		{Name: "printer", MAC: "00:16:3e:0a:0b:0c", IP: "192.168.122.5", Hostname: "printer.example.com"},
		{Name: "web01.example.com", MAC: "52:54:00:12:34:56", IP: "192.168.122.10", Hostname: "web01.example.com",
			Filename: "pxelinux.0", NextServer: "192.168.122.1"},
		{Name: "web02.example.com", MAC: "52:54:00:ab:cd:ef", IP: "192.168.122.11", Filename: "grub2/grubx64.efi"},
	}
	if got := Merge(all); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v\nleases:\n%s", got, want, leaseText)
	}
}

// omapiHost is the omshell input that creates one host.
func omapiHost(name, ip, mac, statements string) string {
	s := fmt.Sprintf("new host\nset name = \"%s\"\nset ip-address = %s\nset hardware-address = %s\nset hardware-type = 1\n", name, ip, mac)
	if statements != "" {
		s += "set statements = \"" + statements + "\"\n"
	}
	return s + "create\n"
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
