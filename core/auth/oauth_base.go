package auth

import (
	"net"
	"net/http"
	"sort"
	"strings"
)

// signatureBaseString builds the RFC 5849 §3.4.1 base string of r:
// METHOD & enc(base string URI) & enc(normalised parameters). params are all the
// request's parameters already collected (query, OAuth header minus oauth_signature
// and realm, form body).
func signatureBaseString(r *http.Request, scheme, host string, params []param) string {
	return strings.ToUpper(r.Method) + "&" + percentEncode(baseStringURI(r, scheme, host)) + "&" + percentEncode(normalisedParameters(params))
}

// baseStringURI is RFC 5849 §3.4.1.2: scheme and host lower-case, the scheme's
// default port dropped, the path as received (never empty). scheme and host are the
// ones the client addressed (Authenticator.Origin): behind a TLS terminator the client
// signed https://foreman.example/… while we receive http://127.0.0.1:3000/….
func baseStringURI(r *http.Request, scheme, host string) string {
	scheme = strings.ToLower(scheme)
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
			host = h
			if strings.Contains(h, ":") {
				host = "[" + h + "]"
			}
		}
	}
	return scheme + "://" + host + requestPath(r)
}

// requestPath is the path exactly as the client sent it (the client signed those
// bytes), taken from the request line; r.URL.EscapedPath is the fallback for
// requests built in-process.
func requestPath(r *http.Request) string {
	path := ""
	if strings.HasPrefix(r.RequestURI, "/") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	} else {
		path = r.URL.EscapedPath()
	}
	if path == "" {
		path = "/"
	}
	return path
}

// normalisedParameters is RFC 5849 §3.4.1.3.2: every name and value encoded, pairs
// sorted by encoded name then encoded value, "name=value" joined with "&".
func normalisedParameters(params []param) string {
	encoded := make([]param, len(params))
	for i, p := range params {
		encoded[i] = param{percentEncode(p.name), percentEncode(p.value)}
	}
	sort.Slice(encoded, func(i, j int) bool {
		if encoded[i].name != encoded[j].name {
			return encoded[i].name < encoded[j].name
		}
		return encoded[i].value < encoded[j].value
	})
	pairs := make([]string, len(encoded))
	for i, p := range encoded {
		pairs[i] = p.name + "=" + p.value
	}
	return strings.Join(pairs, "&")
}
