package provision

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadBuildErrors: whatever an installer posts to /unattended/failed, what is
// stored is valid UTF-8 without NUL (PostgreSQL refuses it) and bounded.
func FuzzReadBuildErrors(f *testing.F) {
	f.Add([]byte("anaconda: no disk\n"))
	f.Add([]byte("\x00\xff\xfe\xc3"))
	f.Add([]byte(strings.Repeat("é", 40000)))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := readBuildErrors(strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("stored %q", got)
		}
		if len(got) > maxBuildErrors+len("\n\nOutput trimmed\n") {
			t.Fatalf("stored %d bytes", len(got))
		}
		if len(body) < maxBuildErrors && strings.HasSuffix(got, "Output trimmed\n") && !strings.HasSuffix(string(body), "Output trimmed\n") {
			t.Fatal("a short body marked as trimmed")
		}
	})
}

// FuzzMACList: any header value or mac param yields MACs without panicking, and a
// well-formed header always contributes its MAC.
func FuzzMACList(f *testing.F) {
	f.Add("eth0 52:54:00:12:34:56", "52-54-00-12-34-56")
	f.Add("", "")
	f.Add("eth0", " \t")
	f.Fuzz(func(t *testing.T, header, param string) {
		h := http.Header{}
		h.Set("X-RHN-Provisioning-MAC-0", header)
		h.Set("X-RHN-Provisioning-MAC-1", "eth1 AA:BB:CC:DD:EE:FF")
		macs := macList(h, param)
		if header != "" && !contains(macs, "aa:bb:cc:dd:ee:ff") {
			t.Fatalf("macs %q lack the second NIC's", macs)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
