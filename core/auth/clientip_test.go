package auth

import (
	"net/http"
	"testing"
)

func TestClientIP(t *testing.T) {
	a := newAuth(t, Config{TrustedProxies: []string{"10.0.0.1", "172.16.0.0/12", "2001:db8::/32"}}, users{}, proxies{})
	for _, c := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no relay", "192.0.2.7:5000", nil, "192.0.2.7"},
		{"untrusted peer's header ignored", "192.0.2.7:5000", []string{"198.51.100.1"}, "192.0.2.7"},
		{"trusted relay", "10.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted relays", "10.0.0.1:5000", []string{"198.51.100.1, 172.16.3.4", "172.20.0.9"}, "198.51.100.1"},
		{"client-written entries left of the first untrusted hop", "10.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1, 172.16.3.4"}, "198.51.100.1"},
		{"all hops trusted", "10.0.0.1:5000", []string{"172.16.0.1"}, "172.16.0.1"},
		{"garbage hop stops the walk", "10.0.0.1:5000", []string{"198.51.100.1, not-an-ip"}, "10.0.0.1"},
		{"garbage behind a trusted hop", "10.0.0.1:5000", []string{"junk, 172.16.0.2"}, "172.16.0.2"},
		{"trusted relay, no header", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"IPv6 relay", "[2001:db8::5]:443", []string{"2001:db8:ffff::1, 198.51.100.9"}, "198.51.100.9"},
	} {
		r := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := a.ClientIP(r); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}
