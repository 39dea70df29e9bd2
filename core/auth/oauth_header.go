package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// param is one decoded request parameter; RFC 5849 allows a name more than once.
type param struct{ name, value string }

// isOAuthHeader tells an OAuth Authorization header; the scheme is case-insensitive
// (RFC 5849 §3.5.1), as Foreman's /^OAuth/ check nearly is.
func isOAuthHeader(h string) bool {
	return len(h) >= 6 && strings.EqualFold(h[:6], "OAuth ")
}

// parseOAuthHeader reads `OAuth name="value", ...` (RFC 5849 §3.5.1): names and
// values percent-encoded, values quoted, pairs separated by commas. It returns the
// protocol parameters decoded, realm left out (it is never signed). A parameter given
// twice is an error: which one was signed would be ambiguous.
func parseOAuthHeader(h string) (map[string]string, error) {
	if !isOAuthHeader(h) {
		return nil, errors.New("authorization scheme is not OAuth")
	}
	rest := h[6:]
	params := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return params, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return nil, fmt.Errorf("OAuth header: %q has no value", rest)
		}
		rawName := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if !strings.HasPrefix(rest, `"`) {
			return nil, fmt.Errorf("OAuth header: value of %q is not quoted", rawName)
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("OAuth header: value of %q has no closing quote", rawName)
		}
		rawValue := rest[1 : 1+end]
		rest = rest[end+2:]
		name, err := url.PathUnescape(rawName)
		if err != nil {
			return nil, fmt.Errorf("OAuth header: parameter name %q: %w", rawName, err)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("OAuth header: value of %s: %w", name, err)
		}
		if name == "realm" {
			continue
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("OAuth header: %s given twice", name)
		}
		params[name] = value
	}
}

// parseFormEncoded splits a query string or an application/x-www-form-urlencoded
// body into decoded pairs, keeping duplicates and order, "+" as space (as browsers,
// Ruby's CGI.escape and Go's url.Values all encode it). Not url.ParseQuery: it
// refuses a ";" that the client may well have signed.
func parseFormEncoded(s string) ([]param, error) {
	var out []param
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, fmt.Errorf("parameter name %q: %w", rawName, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", name, err)
		}
		out = append(out, param{name, value})
	}
	return out, nil
}
