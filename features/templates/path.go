package templates

import (
	"fmt"
	"net/url"
	"strings"
)

// relayPath escapes each segment as the Ruby proxy does (CGI.escape, so a space in a
// hostgroup title becomes "+") and joins them with "/". Segments (decoded by the
// router) that are empty or hold a "." or ".." piece (between slashes, which a host
// can send as %2F) are refused: relayed, they could lead out of /unattended to any
// Foreman URL, reached with the proxy's client certificate by anyone who can reach
// these public routes. So are segments with control characters (%00, %0A): no
// template, kind or hostgroup is named so, and Foreman should not see them.
func relayPath(segments []string) (string, error) {
	escaped := make([]string, len(segments))
	for i, s := range segments {
		if reason := refusedSegment(s); reason != "" {
			return "", fmt.Errorf("invalid path segment %q: %s", s, reason)
		}
		escaped[i] = url.QueryEscape(s)
	}
	return strings.Join(escaped, "/"), nil
}

// refusedSegment says why a decoded segment cannot be relayed, or "" when it can.
func refusedSegment(segment string) string {
	switch {
	case segment == "":
		return "empty"
	case strings.ContainsFunc(segment, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "control characters are not allowed"
	case climbs(segment):
		return `"." and ".." are not allowed`
	}
	return ""
}

// climbs reports whether a decoded segment names the current or parent directory
// once a server splits it on slashes or backslashes.
func climbs(segment string) bool {
	pieces := strings.FieldsFunc(segment, func(r rune) bool { return r == '/' || r == '\\' })
	for _, p := range pieces {
		if p == "." || p == ".." {
			return true
		}
	}
	return false
}
