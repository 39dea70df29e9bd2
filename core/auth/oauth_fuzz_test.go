package auth

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// The OAuth header and the query are read from anyone: no input may panic, and
// what parses must survive being written back and parsed again unchanged.
func FuzzParseOAuthHeader(f *testing.F) {
	f.Add(`OAuth realm="x", oauth_consumer_key="key-1", oauth_nonce="a%2Fb", oauth_signature="2gdxitUgqYCvXFNShheFuEMLE2I%3D"`)
	f.Add(`oauth a="1",,b="" `)
	f.Add(`OAuth a="1", a="2"`)
	f.Add(`OAuth a=1`)
	f.Add(`OAuth a="%zz"`)
	f.Fuzz(func(t *testing.T, header string) {
		params, err := parseOAuthHeader(header)
		if err != nil {
			return
		}
		var fields []string
		for name, value := range params {
			fields = append(fields, fmt.Sprintf(`%s="%s"`, percentEncode(name), percentEncode(value)))
		}
		sort.Strings(fields)
		again, err := parseOAuthHeader("OAuth " + strings.Join(fields, ", "))
		if err != nil || !maps.Equal(params, again) {
			t.Fatalf("%q parsed to %v, written back and parsed to %v (%v)", header, params, again, err)
		}
	})
}

func FuzzSignedParams(f *testing.F) {
	f.Add("b5=%3D%253D&a3=a&c%40=&a2=r%20b", "c2&a3=2+q")
	f.Add("a=%zz", ";;&&=")
	f.Fuzz(func(t *testing.T, query, body string) {
		r := &http.Request{Method: "POST", Host: "example.com", URL: &url.URL{Path: "/", RawQuery: query},
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: http.NoBody}
		if body != "" {
			r.Body = readCloser{strings.NewReader(body)}
		}
		v := &oauthVerifier{maxBody: 1 << 20}
		if params, _, err := v.signedParams(r, map[string]string{"oauth_nonce": "n"}); err == nil {
			signatureBaseString(r, "http", r.Host, params)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
