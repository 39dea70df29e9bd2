package templates

import (
	"fmt"
	"net/url"
	"strings"
)

// relayPath escapes each segment as the Ruby proxy does (CGI.escape, so a space in a
// hostgroup title becomes "+") and joins them with "/". Empty, "." and ".." segments
// are refused: relayed, they would lead out of /unattended to any Foreman URL, reached
// with the proxy's client certificate by anyone who can reach these public routes.
func relayPath(segments []string) (string, error) {
	escaped := make([]string, len(segments))
	for i, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("invalid path segment %q", s)
		}
		escaped[i] = url.QueryEscape(s)
	}
	return strings.Join(escaped, "/"), nil
}
