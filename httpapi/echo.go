package httpapi

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// echoLimit is the longest value Echo quotes whole: any DNS name fits, while a
// 5 MiB "hostname" does not come back in the reply and the log line.
const echoLimit = 255

// echoHead is how much of a longer value Echo keeps.
const echoHead = 64

// Echo returns a value a client sent in a form fit to quote in an error message:
// control characters written as Go escapes (\n, \x00) and bytes that are not UTF-8
// as \xNN, so the message stays one line, and a value over 255 bytes cut to its
// first 64 followed by its length. Printable text is kept as it is.
func Echo(s string) string {
	if len(s) <= echoLimit {
		return escape(s)
	}
	n := echoHead
	for n > echoHead-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n-- // do not cut a character in two
	}
	return fmt.Sprintf("%s... (%d bytes)", escape(s[:n]), len(s))
}

func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
