package puppet

import (
	"context"
	"net/url"
	"time"

	"github.com/smartproxy/smartproxy/internal/puppetapi"
	"github.com/smartproxy/smartproxy/registry"
)

// Waits of spec §5.5: a request waits api_timeout for classes while no ETag is cached
// (the first listing of a big tree is slow), 15 s once one is; the fetch itself goes on
// in the background for up to 5 minutes so a retry finds it done.
const (
	cachedClientWait = 15 * time.Second
	backendTimeout   = 300 * time.Second
)

// apiProvider is puppet_proxy_puppet_api: the Puppet Server v3 HTTP API.
type apiProvider struct {
	puppetURL  string
	apiTimeout time.Duration

	client *puppetapi.Client
	cache  *classCache
	cancel context.CancelFunc
}

var (
	_ registry.Module  = (*apiProvider)(nil)
	_ registry.Exposer = (*apiProvider)(nil)
	_ registry.Starter = (*apiProvider)(nil)
	_ registry.Stopper = (*apiProvider)(nil)
)

func newAPIProvider() *apiProvider { return &apiProvider{} }

func (*apiProvider) Name() string { return ProviderName }

func (p *apiProvider) ExposedSettings() map[string]any {
	return map[string]any{"puppet_url": nullable(p.puppetURL)}
}

// Configure reads puppet_proxy_puppet_api.yml (spec §4.2).
func (p *apiProvider) Configure(env *registry.Env) error {
	s := env.Settings
	conf := puppetapi.ReadConfig(s, "/var/lib/puppet/ssl/certs/ca.pem")
	p.puppetURL = conf.URL
	timeout := s.Int("api_timeout", 30)
	if timeout <= 0 {
		s.Fail("api_timeout", "must be a positive number of seconds, got %d", timeout)
	}
	p.apiTimeout = time.Duration(timeout) * time.Second
	var err error
	p.client, err = conf.Client(s)
	return err
}

// Start gives background class fetches an owner that stops them on shutdown.
func (p *apiProvider) Start(ctx context.Context) error {
	ctx, p.cancel = context.WithCancel(ctx)
	p.cache = newClassCache(ctx, p.fetchClasses, p.apiTimeout, cachedClientWait)
	return nil
}

func (p *apiProvider) Stop(context.Context) error {
	if p.cancel != nil {
		p.cancel()
	}
	p.client.CloseIdle()
	return nil
}

// Environments lists the environments with their module paths.
func (p *apiProvider) Environments(ctx context.Context) ([]Environment, error) {
	ctx, cancel := context.WithTimeout(ctx, p.apiTimeout)
	defer cancel()
	resp, err := p.client.Do(ctx, "GET", "puppet/v3/environments", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != 200 {
		return nil, puppetapi.Unexpected("Failed to query Puppet find environments v3 API", resp)
	}
	return parseEnvironments(resp.Body)
}

// Classes returns an environment's classes through the ETag cache.
func (p *apiProvider) Classes(ctx context.Context, environment string) (*ClassListing, error) {
	return p.cache.get(ctx, environment)
}

// fetchClasses asks for environment_classes, sending the cached ETag; notModified
// tells the cache to reuse what it has.
func (p *apiProvider) fetchClasses(ctx context.Context, environment, etag string) (listing *ClassListing, newETag string, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, backendTimeout)
	defer cancel()
	var header map[string][]string
	if etag != "" {
		header = map[string][]string{"If-None-Match": {etag}}
	}
	resp, err := p.client.Do(ctx, "GET", "puppet/v3/environment_classes", url.Values{"environment": {environment}}, nil, header)
	if err != nil {
		return nil, "", false, err
	}
	switch resp.Status {
	case 304:
		return nil, etag, true, nil
	case 200:
		listing, err := parseClassListing(resp.Body)
		if err != nil {
			return nil, "", false, err
		}
		return listing, resp.Header.Get("Etag"), false, nil
	case 404:
		return nil, "", false, errEnvironmentNotFound
	}
	return nil, "", false, puppetapi.Unexpected("Failed to query Puppet environment classes v3 API", resp)
}

// nullable shows an unset setting as null in /v2/features.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
