package provision

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// found is the host a provisioning request is about, and the token it came with.
type found struct {
	host  *store.Host       // nil: no host matches
	token *store.BuildToken // nil: found by MAC or IP
}

// slaxToken is a token with the ".slax" suffix Juniper ZTP adds.
var slaxToken = regexp.MustCompile(`(?i)^([a-z0-9-]+)\.slax$`)

// maxTokenLength bounds what is looked up as a token (a UUID is 36).
const maxTokenLength = 128

// findHost identifies the requesting host as Foreman's HostFinder does: by ?token=
// (no fallback when one is given), else by the provisioning MACs the installer
// sends (X-RHN-Provisioning-MAC-n headers and ?mac=), else by the client's IP (the
// X-Forwarded-For of a trusted proxy, auth.ClientIP). Several hosts → the newest.
func findHost(ctx context.Context, st *store.Store, c echo.Context) (found, error) {
	if raw, given := c.QueryParams()["token"]; given {
		value := raw[0]
		if m := slaxToken.FindStringSubmatch(value); m != nil {
			value = m[1]
		}
		if value == "" || len(value) > maxTokenLength {
			return found{}, nil
		}
		tok, err := st.BuildTokenByValue(ctx, value)
		if errors.Is(err, store.ErrNotFound) {
			return found{}, nil
		}
		if err != nil {
			return found{}, err
		}
		return hostOrNone(st.Host(ctx, tok.HostID))(&tok)
	}
	if macs := macList(c.Request().Header, c.QueryParam("mac")); len(macs) > 0 {
		return hostOrNone(st.HostByMAC(ctx, macs...))(nil)
	}
	ip := c.RealIP()
	if parsed := net.ParseIP(ip); parsed != nil {
		return hostOrNone(st.HostByIP(ctx, parsed.String()))(nil)
	}
	return found{}, nil
}

// hostOrNone turns a store answer into a found (ErrNotFound = no host).
func hostOrNone(h store.Host, err error) func(*store.BuildToken) (found, error) {
	return func(tok *store.BuildToken) (found, error) {
		if errors.Is(err, store.ErrNotFound) {
			return found{}, nil
		}
		if err != nil {
			return found{}, err
		}
		return found{host: &h, token: tok}, nil
	}
}

// macHeaderPrefix is Anaconda's inst.ks.sendmac header, canonicalised by net/http.
const macHeaderPrefix = "X-Rhn-Provisioning-Mac-"

// macList is Foreman's MacListExtractor: the MAC of every X-RHN-Provisioning-MAC-n
// header (value "<ifname> <mac>"), read only when -0 is present, plus ?mac=.
func macList(h http.Header, param string) []string {
	var macs []string
	if h.Get(macHeaderPrefix+"0") != "" {
		for name, values := range h {
			if !strings.HasPrefix(http.CanonicalHeaderKey(name), macHeaderPrefix) {
				continue
			}
			for _, v := range values {
				if f := strings.Fields(v); len(f) >= 2 {
					macs = append(macs, normaliseMAC(f[1]))
				}
			}
		}
	}
	if p := strings.TrimSpace(param); p != "" {
		macs = append(macs, normaliseMAC(p))
	}
	return macs
}

// normaliseMAC writes a MAC as the store keeps it (aa:bb:cc:dd:ee:ff); anything
// net.ParseMAC refuses is only lower-cased, and then matches no host.
func normaliseMAC(s string) string {
	if hw, err := net.ParseMAC(s); err == nil {
		return hw.String()
	}
	return strings.ToLower(s)
}
