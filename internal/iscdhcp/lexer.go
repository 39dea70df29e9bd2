package iscdhcp

import (
	"fmt"
	"strings"
)

// token is a word, a quoted string or one of { } ; , =.
type token struct {
	text   string
	quoted bool
	line   int
}

// tokenize splits ISC dhcpd configuration text (dhcpd.conf, dhcpd.leases) into tokens:
// '#' starts a comment to the end of the line, strings are double-quoted with
// backslash escapes, and { } ; , = stand alone.
func tokenize(src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"':
			s, n, err := readString(src[i:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			toks = append(toks, token{text: s, quoted: true, line: line})
			line += strings.Count(src[i:i+n], "\n")
			i += n
		case strings.IndexByte("{};,=", c) >= 0:
			toks = append(toks, token{text: string(c), line: line})
			i++
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n#\"{};,=", rune(src[j])) {
				j++
			}
			toks = append(toks, token{text: src[i:j], line: line})
			i = j
		}
	}
	return toks, nil
}

// readString reads the quoted string at the start of s; it returns the text and the
// bytes consumed.
func readString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
