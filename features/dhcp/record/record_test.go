package record

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

func TestMasks(t *testing.T) {
	for bits, mask := range map[int]string{0: "0.0.0.0", 8: "255.0.0.0", 12: "255.240.0.0", 29: "255.255.255.248", 32: "255.255.255.255"} {
		if got := Netmask(bits).String(); got != mask {
			t.Errorf("Netmask(%d) = %s, want %s", bits, got, mask)
		}
		if got, err := MaskBits(netip.MustParseAddr(mask)); err != nil || got != bits {
			t.Errorf("MaskBits(%s) = %d, %v", mask, got, err)
		}
	}
	if _, err := MaskBits(netip.MustParseAddr("255.0.255.0")); err == nil {
		t.Error("a non-contiguous mask was accepted")
	}
	s := Subnet{Prefix: netip.MustParsePrefix("10.20.0.0/29")}
	if s.String() != "10.20.0.0/255.255.255.248" || s.Broadcast().String() != "10.20.0.7" {
		t.Errorf("subnet %s broadcast %s", s, s.Broadcast())
	}
}

func TestLeaseJSON(t *testing.T) {
	l := Lease{IP: netip.MustParseAddr("192.168.122.2"), MAC: "00:aa:bb:cc:dd:ee",
		Subnet: Subnet{Prefix: netip.MustParsePrefix("192.168.122.0/24")},
		Starts: time.Date(2014, 7, 12, 10, 8, 29, 0, time.FixedZone("CEST", 7200)), State: LeaseActive, Hostname: "h"}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ends":null,"hostname":"h","ip":"192.168.122.2","mac":"00:aa:bb:cc:dd:ee","name":"lease-00aabbccddee",` +
		`"starts":"2014-07-12 08:08:29 UTC","state":"active","subnet":"192.168.122.0/255.255.255.0","type":"lease"}`
	if string(b) != want {
		t.Fatalf("lease JSON\n%s\nwant\n%s", b, want)
	}
}

func TestReservationJSONFixedFieldsWin(t *testing.T) {
	r := Reservation{Name: "h", IP: netip.MustParseAddr("192.168.122.10"), MAC: "aa:bb:cc:dd:ee:ff",
		Subnet: Subnet{Prefix: netip.MustParsePrefix("192.168.122.0/24")}, Options: map[string]string{"type": "x", "filename": "f"}}
	b, _ := json.Marshal(r)
	want := `{"deleteable":true,"filename":"f","ip":"192.168.122.10","mac":"aa:bb:cc:dd:ee:ff","name":"h",` +
		`"subnet":"192.168.122.0/255.255.255.0","type":"reservation"}`
	if string(b) != want {
		t.Fatalf("reservation JSON\n%s\nwant\n%s", b, want)
	}
	if r.Hostname() != "h" {
		t.Fatalf("hostname falls back to the name, got %q", r.Hostname())
	}
}
