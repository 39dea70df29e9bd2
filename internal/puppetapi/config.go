package puppetapi

import (
	"fmt"
	"strings"

	"github.com/smartproxy/smartproxy/settings"
)

// Config is how a provider file says to reach the Puppet Server (spec §4.2): the
// same keys for puppet_proxy_puppet_api and puppetca_http_api, read here once.
type Config struct {
	URL string // puppet_url
	TLS TLSFiles
}

// ReadConfig reads puppet_url and puppet_ssl_ca/cert/key, recording problems in s.
// defaultCA is the caller's because the features' defaults differ (puppet keeps the
// old /var/lib/puppet path, puppetca the AIO /etc/puppetlabs one). Over plain http
// the TLS files are read only so they are not reported unknown, and left unset.
func ReadConfig(s *settings.Section, defaultCA string) Config {
	var c Config
	if s.Has("puppet_url") {
		c.URL = s.URL("puppet_url")
	} else {
		s.Required("puppet_url")
	}
	if strings.HasPrefix(strings.ToLower(c.URL), "http:") {
		s.Path("puppet_ssl_ca", defaultCA)
		s.Path("puppet_ssl_cert", "")
		s.Path("puppet_ssl_key", "")
		return c
	}
	c.TLS.CA = s.ReadableFile("puppet_ssl_ca", defaultCA, true)
	c.TLS.Cert = s.ReadableFile("puppet_ssl_cert", "", false)
	c.TLS.Key = s.ReadableFile("puppet_ssl_key", "", false)
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		s.Fail("puppet_ssl_cert", "and :puppet_ssl_key: must be set together")
	}
	return c
}

// Client builds the client for c once the caller has read all its settings. While s
// holds problems it returns nil and no error: the registry reports those problems,
// and a client built from bad settings would only add a confusing second one.
func (c Config) Client(s *settings.Section) (*Client, error) {
	if s.Err() != nil {
		return nil, nil
	}
	client, err := New(c.URL, c.TLS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.File, err)
	}
	return client, nil
}
