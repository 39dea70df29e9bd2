package logging

import (
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, /a/b?c=d":             "plain text, /a/b?c=d",
		`C:\boot\x`:                        `C:\boot\x`, // backslashes are text
		"pxelinux.0/\n2026-01-01 [I] fake": `pxelinux.0/\n2026-01-01 [I] fake`,
		"a\r\nb\tc\x00d\x7fe":              `a\r\nb\tc\x00d\x7fe`,
		"\x1b[31mred":                      `\x1b[31mred`,
		"été 日本":                           "été 日本",
		"line\u2028sep\u202eRTL":           `line\u2028sep\u202eRTL`,
		"bad \xff\xfe utf8":                `bad \xff\xfe utf8`,
		"c1 \u0085 next line":              `c1 \u0085 next line`,
	} {
		got := Escape(in)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if again := Escape(got); again != got {
			t.Errorf("Escape is not idempotent on %q: %q", got, again)
		}
	}
}

// One entry is one line in the log file, and the buffer (what /logs shows) holds the
// same escaped text, cut when a client sent a huge name.
func TestEntriesAreOneEscapedLine(t *testing.T) {
	e := &logrus.Entry{Time: time.Date(2026, 11, 22, 10, 0, 5, 0, time.UTC), Level: logrus.WarnLevel,
		Message: "Not found: a\nb", Data: logrus.Fields{"request": "1f2e3d4c", "name": "x\r\ny", "k\n": 1}}
	out, err := Formatter{}.Format(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `2026-11-22T10:00:05 1f2e3d4c [W] Not found: a\nb k\n=1 name=x\r\ny`+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}

	b := NewBuffer(10, 10, logrus.DebugLevel)
	e.Message = "forged\n2026-11-22T10:00:06 00000000 [E] " + strings.Repeat("a", 100_000)
	if err := b.Fire(e); err != nil {
		t.Fatal(err)
	}
	got := b.Since(0)[0].Message
	if strings.ContainsAny(got, "\n\r") || !strings.HasPrefix(got, `forged\n2026`) {
		t.Fatalf("buffered %q", got[:60])
	}
	if len(got) > maxBufferedBytes+64 || !strings.HasSuffix(got, "more bytes)") {
		t.Fatalf("buffered %d bytes, ending %q", len(got), got[len(got)-30:])
	}
}

func BenchmarkEscapePlain(b *testing.B) {
	s := `127.0.0.1 - - "GET /httpboot/grub2/grubx64.efi HTTP/1.1" 200 1234 0.0012`
	for range b.N {
		_ = Escape(s)
	}
}
