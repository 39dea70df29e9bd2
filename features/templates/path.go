package templates

import (
	"fmt"
	"net/url"
	"strings"
)

// relayPath escapes each segment as the Ruby proxy does (CGI.escape, so a space in a
// hostgroup title becomes "+") and joins them with "/". Segments that are empty or
// hold a "." or ".." piece (between slashes, which a host can send as %2F) are
// refused: relayed, they could lead out of /unattended to any Foreman URL, reached with
// the proxy's client certificate by anyone who can reach these public routes.
func relayPath(segments []string) (string, error) {
	escaped := make([]string, len(segments))
	for i, s := range segments {
		if climbs(s) {
			return "", fmt.Errorf("invalid path segment %q", s)
		}
		escaped[i] = url.QueryEscape(s)
	}
	return strings.Join(escaped, "/"), nil
}

// climbs reports whether a decoded segment is empty or names the current or parent
// directory once a server splits it on slashes or backslashes.
func climbs(segment string) bool {
	if segment == "" {
		return true
	}
	pieces := strings.FieldsFunc(segment, func(r rune) bool { return r == '/' || r == '\\' })
	for _, p := range pieces {
		if p == "." || p == ".." {
			return true
		}
	}
	return false
}
