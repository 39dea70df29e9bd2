package embedded

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/settings"
)

// config is dns_embedded.yml.
type config struct {
	listen   string // host:port for UDP and TCP
	stateDir string
	zones    []zoneConfig
	keys     []tsigkey.Key
	state    etcdstate.Config // :state_backend: journal (state_dir) or etcd
}

// zoneConfig is one served zone. Its SOA and NS records come from here, not from
// updates: the zone's identity is the admin's, its host records are Foreman's.
type zoneConfig struct {
	name       string   // canonical: lower case, trailing dot
	ns         []string // name servers, absolute
	hostmaster string   // SOA RNAME, absolute
	ttl        uint32   // TTL of SOA and NS, and the SOA minimum (negative caching)
}

const defaultListen = "0.0.0.0:53"

// parseConfig reads the provider's settings, recording every problem in s:
//
//	:listen:     address:port for UDP and TCP (default 0.0.0.0:53)
//	:state_dir:  where records are kept (required with the journal backend; relative to the settings file)
//	:state_backend: journal (default) or etcd, with the :etcd_*: keys of internal/etcdstate
//	:zones:      list of zone names, or maps with :name:, :ns: (list), :hostmaster:, :ttl:
//	:tsig_keys:  list of BIND key file paths, or maps with :name:, :algorithm:, :secret:;
//	             RFC 2136 updates signed with one of them are accepted
func parseConfig(s *settings.Section) config {
	c := config{listen: s.String("listen", defaultListen), stateDir: s.Path("state_dir", "")}
	if _, port, err := net.SplitHostPort(c.listen); err != nil || port == "" {
		s.Fail("listen", "must be address:port, got %q", c.listen)
	}
	c.state = etcdstate.Parse(s)
	if c.stateDir == "" && !c.state.Etcd() {
		s.Fail("state_dir", "is required: the directory where records survive restarts (or :state_backend: etcd)")
	}
	c.zones = parseZones(s)
	c.keys = parseKeys(s)
	return c
}

func parseZones(s *settings.Section) []zoneConfig {
	raw, ok := s.Raw("zones")
	list, isList := raw.([]any)
	if !ok || !isList || len(list) == 0 {
		s.Fail("zones", "must list at least one zone to serve")
		return nil
	}
	var zones []zoneConfig
	seen := map[string]bool{}
	for i, item := range list {
		var z zoneConfig
		switch v := item.(type) {
		case string:
			z.name = v
		case map[string]any:
			m := settings.NewSection(s.File, v)
			ttl := m.Int("ttl", 3600)
			z = zoneConfig{name: m.String("name", ""), ns: m.StringList("ns", nil), hostmaster: m.String("hostmaster", "")}
			if ttl < 1 || ttl > 1<<31-1 {
				m.Fail("ttl", "must be between 1 and 2147483647 seconds, got %d", ttl)
			}
			z.ttl = uint32(ttl)
			if err := m.Err(); err != nil {
				s.Fail("zones", "item %d: %v", i, err)
				continue
			}
		default:
			s.Fail("zones", "item %d must be a zone name or a map, got %v", i, item)
			continue
		}
		if err := z.complete(); err != nil {
			s.Fail("zones", "item %d: %v", i, err)
			continue
		}
		if seen[z.name] {
			s.Fail("zones", "zone %s is listed twice", z.name)
			continue
		}
		seen[z.name] = true
		zones = append(zones, z)
	}
	return zones
}

// complete checks the zone and fills in defaults: name server ns1.<zone>, hostmaster
// hostmaster.<zone>, TTL 3600.
func (z *zoneConfig) complete() error {
	if _, ok := dns.IsDomainName(z.name); !ok || strings.TrimSpace(z.name) == "" {
		return fmt.Errorf("zone name %q is not a domain name", z.name)
	}
	z.name = dns.CanonicalName(z.name)
	if z.name == "." {
		return fmt.Errorf("serving the root zone is not supported")
	}
	if len(z.ns) == 0 {
		z.ns = []string{"ns1." + z.name}
	}
	for i, ns := range z.ns {
		if _, ok := dns.IsDomainName(ns); !ok {
			return fmt.Errorf("zone %s: name server %q is not a domain name", z.name, ns)
		}
		z.ns[i] = dns.Fqdn(ns)
	}
	if z.hostmaster == "" {
		z.hostmaster = "hostmaster." + z.name
	}
	z.hostmaster = strings.Replace(z.hostmaster, "@", ".", 1) // hostmaster@example.test is the usual spelling
	if _, ok := dns.IsDomainName(z.hostmaster); !ok {
		return fmt.Errorf("zone %s: hostmaster %q is not a domain name", z.name, z.hostmaster)
	}
	z.hostmaster = dns.Fqdn(z.hostmaster)
	if z.ttl == 0 {
		z.ttl = 3600
	}
	return nil
}

func parseKeys(s *settings.Section) []tsigkey.Key {
	raw, ok := s.Raw("tsig_keys")
	if !ok {
		return nil
	}
	list, isList := raw.([]any)
	if !isList {
		list = []any{raw}
	}
	var keys []tsigkey.Key
	for i, item := range list {
		switch v := item.(type) {
		case string:
			path := v
			if !filepath.IsAbs(path) {
				path = filepath.Join(s.Dir, path)
			}
			found, err := tsigkey.ParseFile(path)
			if err != nil {
				s.Fail("tsig_keys", "item %d: %v", i, err)
				continue
			}
			keys = append(keys, found...)
		case map[string]any:
			m := settings.NewSection(s.File, v)
			k, err := tsigkey.New(m.String("name", ""), m.String("algorithm", "hmac-sha256"), m.String("secret", ""))
			if err != nil {
				s.Fail("tsig_keys", "item %d: %v", i, err)
				continue
			}
			keys = append(keys, k)
		default:
			s.Fail("tsig_keys", "item %d must be a key file path or a map, got %v", i, item)
		}
	}
	return keys
}
