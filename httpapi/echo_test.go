package httpapi

import (
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web01.example.com", "web01.example.com"},
		{"not a hostname!", "not a hostname!"},
		{"a\nb", `a\nb`},
		{"a\x00b", `a\x00b`},
		{"\xff\xfe", `\xff\xfe`},
		{"caf\u00e9", "caf\u00e9"},
		{"x\u2028y", `x\u2028y`},
		{strings.Repeat("a", 255), strings.Repeat("a", 255)},
		{strings.Repeat("a", 70000), strings.Repeat("a", 64) + "... (70000 bytes)"},
		// A two-byte character across the cut is dropped whole, not split.
		{strings.Repeat("a", 63) + strings.Repeat("\u00e9", 200), strings.Repeat("a", 63) + "... (463 bytes)"},
	}
	for _, tt := range tests {
		if got := Echo(tt.in); got != tt.want {
			t.Errorf("Echo(%.80q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
