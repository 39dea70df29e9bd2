package httpapi

import (
	"fmt"
	"unicode/utf8"

	"github.com/smartproxy/smartproxy/logging"
)

// echoLimit is the longest value Echo quotes whole: any DNS name fits, while a
// 5 MiB "hostname" does not come back in the reply and the log line.
const echoLimit = 255

// echoHead is how much of a longer value Echo keeps.
const echoHead = 64

// Echo returns a value a client sent in a form fit to quote in an error message:
// control characters written as Go escapes (\n, \x00) and bytes that are not UTF-8
// as \xNN, so the message stays one line, and a value over 255 bytes cut to its
// first 64 followed by its length. Printable text is kept as it is (logging.Escape).
func Echo(s string) string {
	if len(s) <= echoLimit {
		return logging.Escape(s)
	}
	n := echoHead
	for n > echoHead-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n-- // do not cut a character in two
	}
	return fmt.Sprintf("%s... (%d bytes)", logging.Escape(s[:n]), len(s))
}
