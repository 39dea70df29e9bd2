// Package nsupdate is the dns_nsupdate provider: it creates and deletes records on an
// existing DNS server (BIND, Knot, PowerDNS, ...) with RFC 2136 dynamic updates signed
// with TSIG, and runs the conflict check by querying that server directly. It speaks
// the protocol itself; no nsupdate process is started.
package nsupdate

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
	"github.com/smartproxy/smartproxy/registry"
)

// Provider talks to one DNS server.
type Provider struct {
	server   string // host:port
	key      *tsigkey.Key
	ring     tsigkey.Ring
	timeouts []time.Duration
	zones    zoneCache
	log      *logrus.Entry

	mu    sync.Mutex
	batch *batcher // between Start and Stop
}

var (
	_ registry.Module  = (*Provider)(nil)
	_ registry.Starter = (*Provider)(nil)
	_ registry.Stopper = (*Provider)(nil)
)

// New returns an unconfigured provider.
func New() *Provider { return &Provider{} }

func (*Provider) Name() string { return "dns_nsupdate" }

// Configure reads dns_nsupdate.yml:
//
//	:dns_server:          host or host:port (default localhost, port 53)
//	:dns_key:             BIND key file (tsig-keygen output); updates are unsigned without it
//	:dns_tsig_algorithm:  overrides the key file's algorithm (hmac-sha1/224/256/384/512)
//
// and the global :dns_resolv_timeouts: (seconds per attempt).
func (p *Provider) Configure(env *registry.Env) error {
	s := env.Settings
	p.log = env.Log
	server, err := serverAddress(s.String("dns_server", "localhost"))
	if err != nil {
		s.Fail("dns_server", "%v", err)
	}
	p.server = server
	if path := s.Path("dns_key", ""); path != "" {
		keys, err := tsigkey.ParseFile(path)
		if err != nil {
			s.Fail("dns_key", "%v", err)
		} else {
			if len(keys) > 1 {
				env.Log.Warnf("%s holds %d keys; dns_nsupdate signs with the first, %s", path, len(keys), keys[0].Name)
			}
			p.key = &keys[0]
		}
	}
	if alg := s.String("dns_tsig_algorithm", ""); alg != "" {
		wire, err := tsigkey.Algorithm(alg)
		switch {
		case err != nil:
			s.Fail("dns_tsig_algorithm", "%v", err)
		case p.key == nil:
			s.Fail("dns_tsig_algorithm", "needs :dns_key: to name the key it applies to")
		default:
			p.key.Algorithm = wire
		}
	}
	if p.key != nil {
		p.ring = tsigkey.NewRing(*p.key)
	}
	p.timeouts = nil
	if env.Global != nil {
		for _, sec := range env.Global.DNSResolvTimeouts {
			p.timeouts = append(p.timeouts, time.Duration(sec)*time.Second)
		}
	}
	if len(p.timeouts) == 0 {
		p.timeouts = []time.Duration{5 * time.Second, 8 * time.Second, 13 * time.Second}
	}
	return nil
}

// serverAddress turns "host", "host:port", "[v6]:port" or a bare IPv6 address into host:port.
func serverAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("is empty")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") == 1 && !strings.HasPrefix(s, "[") {
			return "", fmt.Errorf("%q is not host or host:port: %w", s, err)
		}
		host, port = strings.Trim(s, "[]"), "53"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port must be 1-65535", s)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	return net.JoinHostPort(host, port), nil
}
