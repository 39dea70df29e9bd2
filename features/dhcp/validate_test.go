package dhcp

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

func TestNormaliseMAC(t *testing.T) {
	cases := map[string]string{
		"AA:BB:CC:DD:EE:FF":            "aa:bb:cc:dd:ee:ff",
		"a:b:c:d:e:f":                  "0a:0b:0c:0d:0e:0f",
		"aa:bb:cc:00:11:22:33":         "",
		"aa:bb:cc:00:11":               "",
		"zz:bb:cc:00:11:22":            "",
		"aa:bb:cc:00:11:+2":            "",
		"aa-bb-cc-dd-ee-ff":            "",
		"":                             "",
		strings.Repeat("1:", 19) + "1": strings.Repeat("01:", 19) + "01",
	}
	for in, want := range cases {
		got, err := normaliseMAC(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("normaliseMAC(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && err.Error() != "Invalid MAC "+in {
			t.Errorf("normaliseMAC(%q) error %q", in, err)
		}
	}
}

// FuzzParams: address and MAC validation never panic, and what they accept is
// already normal.
func FuzzParams(f *testing.F) {
	for _, s := range []string{"192.168.1.1", "192.168.1", "392.88.99.255", "fe80::1%eth0", "aa:bb:cc:dd:ee:ff", "A:B:C:D:E:F", "::ffff:1.2.3.4",
		"web01.example.com", "grub2/grubx64.efi", "not a hostname!", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ip, err := parseIPv4(s); err == nil && (!ip.Is4() || ip.String() != s) {
			t.Fatalf("parseIPv4(%q) accepted %s", s, ip)
		}
		// What the reservation checks accept fits the reply field it goes into.
		if checkHostname("hostname", s) == nil && (len(s) > maxHostname || !isPrintableASCII(s) || strings.ContainsAny(s, " _")) {
			t.Fatalf("checkHostname accepted %q", s)
		}
		if checkBootFile(s) == nil && (len(s) > maxBootFile || !isPrintableASCII(s)) {
			t.Fatalf("checkBootFile accepted %q", s)
		}
		if checkNextServer(s) == nil && (len(s) > maxServerName || !isPrintableASCII(s)) {
			t.Fatalf("checkNextServer accepted %q", s)
		}
		if mac, err := normaliseMAC(s); err == nil {
			again, err := normaliseMAC(mac)
			if err != nil || again != mac || (len(mac) != 17 && len(mac) != 59) {
				t.Fatalf("normaliseMAC(%q) = %q, not normal", s, mac)
			}
		}
	})
}

// The ping fallback: ping(8) exits 0 on a reply, as loopback always gives, and the
// ICMP socket path agrees.
func TestPingCommand(t *testing.T) {
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not installed (apt-get install iputils-ping)")
	}
	ctx := context.Background()
	if !pingCommandAlive(ctx, netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("127.0.0.1 did not answer ping")
	}
	if pingCommandAlive(ctx, netip.MustParseAddr("127.0.0.1")) != icmpAlive(ctx, netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("ping(8) and the ICMP socket disagree about 127.0.0.1")
	}
}
