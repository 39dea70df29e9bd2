package auth

import (
	"fmt"
	"net"
	"strings"
)

// hostPattern is one allowed host: a registered proxy's URL host or a
// trusted_hosts entry. Exactly one of network, ip, wildcard, name is set.
type hostPattern struct {
	network  *net.IPNet // "192.0.2.0/24"
	ip       net.IP     // "192.0.2.7"
	wildcard string     // "*.example.com" kept as ".example.com"
	name     string     // "proxy.example.com"
	proxy    *ProxyHost // the registered proxy this pattern stands for, if any
}

// parseHostPattern reads one entry; names are compared lower-case without a
// trailing dot.
func parseHostPattern(entry string) (hostPattern, error) {
	s := normaliseName(entry)
	switch {
	case s == "":
		return hostPattern{}, fmt.Errorf("empty host entry")
	case strings.Contains(s, "/"):
		_, network, err := net.ParseCIDR(s)
		if err != nil {
			return hostPattern{}, fmt.Errorf("%q is not a CIDR network: %w", entry, err)
		}
		return hostPattern{network: network}, nil
	case net.ParseIP(s) != nil:
		return hostPattern{ip: net.ParseIP(s)}, nil
	case strings.HasPrefix(s, "*."):
		if len(s) < 3 || strings.Contains(s[2:], "*") {
			return hostPattern{}, fmt.Errorf("%q: a wildcard is \"*.\" followed by a domain", entry)
		}
		return hostPattern{wildcard: s[1:]}, nil
	case strings.Contains(s, "*"):
		return hostPattern{}, fmt.Errorf("%q: \"*\" is allowed only as the first label", entry)
	}
	return hostPattern{name: s}, nil
}

func parseHostPatterns(entries []string) ([]hostPattern, error) {
	patterns := make([]hostPattern, 0, len(entries))
	for _, e := range entries {
		p, err := parseHostPattern(e)
		if err != nil {
			return nil, err
		}
		patterns = append(patterns, p)
	}
	return patterns, nil
}

// matches tells whether a caller's name (a certificate SAN or CN, a reverse-DNS
// name, or an IP) is allowed by p. A certificate may itself carry a wildcard name
// ("*.example.com"), which matches a named pattern under that domain, as Foreman
// does. Wildcards on either side match one or more labels, never the bare domain.
func (p hostPattern) matches(callerName string) bool {
	name := normaliseName(callerName)
	ip := net.ParseIP(name)
	switch {
	case p.network != nil:
		return ip != nil && p.network.Contains(ip)
	case p.ip != nil:
		return ip != nil && p.ip.Equal(ip)
	case ip != nil:
		return false
	case p.wildcard != "":
		if strings.HasPrefix(name, "*") {
			return name == "*"+p.wildcard
		}
		return len(name) > len(p.wildcard) && strings.HasSuffix(name, p.wildcard)
	case strings.HasPrefix(name, "*."):
		suffix := name[1:]
		return len(p.name) > len(suffix) && strings.HasSuffix(p.name, suffix)
	}
	return p.name == name
}

// normaliseName lower-cases, drops a DNS root dot and IPv6 brackets.
func normaliseName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSuffix(s, ".")
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	return s
}

// parseNetworks reads IPs and CIDRs (trusted_proxies); a bare IP is a /32 or /128.
func parseNetworks(entries []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, e := range entries {
		s := strings.TrimSpace(e)
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("%q is neither an IP nor a CIDR network", e)
			}
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, network, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR network: %w", e, err)
		}
		out = append(out, network)
	}
	return out, nil
}
