package auth

import "strings"

// percentEncode is RFC 3986 §2.1 encoding as RFC 5849 §3.6 demands it: only the
// unreserved characters stay, every other byte of the UTF-8 string becomes %XX with
// upper-case hex. Go's url.QueryEscape differs (space as "+", "~" escaped), which
// would break signatures, hence our own.
func percentEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"
