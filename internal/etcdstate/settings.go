// Package etcdstate is the shared-state backend for several proxies serving one
// zone (DESIGN §6-§7): a client built from settings, a watched local copy of one
// key prefix that resyncs by revision after a partition, and a compare-and-put
// transaction for claiming a key. Features keep their hot path on the local copy
// and write through etcd; the embedded journals stay the default.
package etcdstate

import (
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

// Backend names for :state_backend:.
const (
	BackendJournal = "journal"
	BackendEtcd    = "etcd"
)

// Config is the etcd part of a feature's settings.
type Config struct {
	Backend   string // BackendJournal or BackendEtcd
	Endpoints []string
	CAFile    string // verifies the etcd members (https endpoints)
	CertFile  string // the proxy's client certificate, for --client-cert-auth clusters
	KeyFile   string
	Prefix    string        // every key lives under it, ending in "/"
	Timeout   time.Duration // one request; past it the cluster counts as unavailable
}

const (
	defaultPrefix  = "/smartproxy/"
	defaultTimeout = 3 * time.Second
)

// Parse reads :state_backend: and, for etcd, :etcd_endpoints:, :etcd_ca:,
// :etcd_cert:, :etcd_key:, :etcd_prefix: and :etcd_timeout: (seconds). Problems are
// recorded on s. A feature calls it on its own (provider) section.
func Parse(s *settings.Section) Config {
	c := Config{Backend: s.String("state_backend", BackendJournal)}
	switch c.Backend {
	case BackendJournal:
		return c
	case BackendEtcd:
	default:
		s.Fail("state_backend", "must be %q or %q, got %q", BackendJournal, BackendEtcd, c.Backend)
		return c
	}
	c.Endpoints = s.StringList("etcd_endpoints", nil)
	if len(c.Endpoints) == 0 {
		s.Fail("etcd_endpoints", "must list the etcd client URLs (https://host:2379) when :state_backend: is etcd")
	}
	tlsWanted := false
	for _, e := range c.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			s.Fail("etcd_endpoints", "%q must start with http:// or https://", e)
		}
		tlsWanted = tlsWanted || strings.HasPrefix(e, "https://")
	}
	c.CAFile = s.ReadableFile("etcd_ca", "", false)
	c.CertFile = s.ReadableFile("etcd_cert", "", false)
	c.KeyFile = s.ReadableFile("etcd_key", "", false)
	if (c.CertFile == "") != (c.KeyFile == "") {
		s.Fail("etcd_cert", "and :etcd_key: go together")
	}
	if c.CertFile != "" && !tlsWanted {
		s.Fail("etcd_cert", "is set but no endpoint is https://")
	}
	c.Prefix = s.String("etcd_prefix", defaultPrefix)
	if !strings.HasPrefix(c.Prefix, "/") {
		s.Fail("etcd_prefix", "must start with /, got %q", c.Prefix)
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	secs := s.Int("etcd_timeout", int(defaultTimeout/time.Second))
	if secs <= 0 {
		s.Fail("etcd_timeout", "must be a positive number of seconds")
	}
	c.Timeout = time.Duration(secs) * time.Second
	return c
}

// Etcd reports whether the feature keeps its state in etcd.
func (c Config) Etcd() bool { return c.Backend == BackendEtcd }
