package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// resolver is the part of *net.Resolver that identifies plain-HTTP callers.
type resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// reverseDNSTimeout bounds the lookups of a plain-HTTP caller's names.
const reverseDNSTimeout = 2 * time.Second

// RequireProxyOrUser guards the routes smart proxies and Puppet servers call
// (facts, reports, ENC; Foreman's require_smart_proxy_or_login): with
// restrict_registered_smart_proxies off everyone passes as the API admin; a caller
// recognised as a registered proxy having feature ("" = any) or as a trusted host
// passes as the API admin (ProxyFrom names the proxy); otherwise valid user
// credentials (Basic or OAuth) pass as that user, and anything else is 403.
func (a *Authenticator) RequireProxyOrUser(feature string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !a.cfg.RestrictRegisteredProxies {
				c.Set(userKey, APIAdmin)
				return next(c)
			}
			r := c.Request()
			names, why := a.callerNames(r)
			if len(names) > 0 {
				proxy, allowed, err := a.matchCaller(r.Context(), feature, names)
				if err != nil {
					return fmt.Errorf("auth: listing registered proxies: %w", err)
				}
				if allowed {
					c.Set(userKey, APIAdmin)
					if proxy != nil {
						c.Set(proxyKey, *proxy)
					}
					return next(c)
				}
				why = fmt.Sprintf("no registered smart proxy%s and no trusted host matches %v", withFeature(feature), names)
			}
			user, _, err := a.authenticateUser(r)
			if err == nil {
				c.Set(userKey, user)
				return next(c)
			}
			if errors.Is(err, errBodyTooLarge) || errors.Is(err, errDirectory) {
				return a.refuseUser(c, "", err)
			}
			a.log.WithField("remote_ip", a.ClientIP(r)).Warnf("%s %s: access denied: %s; user: %v", r.Method, r.URL.Path, why, err)
			return accessDenied(c, sentence(why))
		}
	}
}

// sentence capitalises a reason for the client.
func sentence(s string) string {
	if s == "" {
		return "Not a registered smart proxy"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func withFeature(feature string) string {
	if feature == "" {
		return ""
	}
	return " with feature " + feature
}

// callerNames are the names a caller is known by. Over TLS: those of a client
// certificate that verified against the client CA — its SANs (DNS names and IPs)
// if it has any, else its subject CN, lower-cased; no certificate or an unverified
// one gives none (Foreman's require_ssl_smart_proxies, on by default). Over plain
// HTTP: the client IP and those of its reverse-DNS names that resolve back to it.
// why says, when there are no names, what was missing.
func (a *Authenticator) callerNames(r *http.Request) (names []string, why string) {
	if r.TLS != nil {
		if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			return nil, "no verified client certificate"
		}
		leaf := r.TLS.PeerCertificates[0]
		for _, n := range leaf.DNSNames {
			names = append(names, normaliseName(n))
		}
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		if len(names) == 0 && leaf.Subject.CommonName != "" {
			names = append(names, normaliseName(leaf.Subject.CommonName))
		}
		if len(names) == 0 {
			return nil, "client certificate names no host"
		}
		return names, ""
	}
	ip := a.ClientIP(r)
	return append([]string{ip}, a.confirmedReverseNames(r.Context(), ip)...), ""
}

// confirmedReverseNames are ip's PTR names that resolve back to ip. Foreman takes
// PTR names as they come; we also check them forward (as the smart proxy's
// forward_verify does), since whoever owns a reverse zone can write any name in it.
func (a *Authenticator) confirmedReverseNames(ctx context.Context, ip string) []string {
	ctx, cancel := context.WithTimeout(ctx, reverseDNSTimeout)
	defer cancel()
	ptrs, err := a.resolver.LookupAddr(ctx, ip)
	if err != nil {
		return nil
	}
	want := net.ParseIP(ip)
	var names []string
	for _, name := range ptrs {
		addrs, err := a.resolver.LookupIPAddr(ctx, name)
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			if addr.IP.Equal(want) {
				names = append(names, normaliseName(name))
				break
			}
		}
	}
	return names
}

// matchCaller checks names against the registered proxies having feature, then
// trusted_hosts. The proxy is nil when only a trusted host matched.
func (a *Authenticator) matchCaller(ctx context.Context, feature string, names []string) (*ProxyHost, bool, error) {
	registered, err := a.proxies.ProxyHosts(ctx, feature)
	if err != nil {
		return nil, false, err
	}
	for i := range registered {
		pattern, err := parseHostPattern(registered[i].Host)
		if err != nil {
			continue // a proxy URL without a usable host can match nobody
		}
		pattern.proxy = &registered[i]
		if anyMatches(pattern, names) {
			return pattern.proxy, true, nil
		}
	}
	for _, pattern := range a.trustedHosts {
		if anyMatches(pattern, names) {
			return nil, true, nil
		}
	}
	return nil, false, nil
}

func anyMatches(p hostPattern, names []string) bool {
	for _, n := range names {
		if p.matches(n) {
			return true
		}
	}
	return false
}
