package puppet

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/smartproxy/smartproxy/httpapi"
)

// fetchFunc asks the Puppet Server for an environment's classes, sending etag when
// one is cached; notModified means the cached listing is still current.
type fetchFunc func(ctx context.Context, environment, etag string) (listing *ClassListing, newETag string, notModified bool, err error)

// classCache keeps each environment's last class listing with its ETag and runs at
// most one fetch per environment at a time. A request waits only a bounded time for
// the fetch; the fetch itself carries on under the cache's own context, so a slow
// first listing completes in the background and a retry is served from the cache.
type classCache struct {
	ctx        context.Context // owner's lifetime: cancelled when the provider stops
	fetch      fetchFunc
	firstWait  time.Duration // no ETag cached yet (api_timeout)
	cachedWait time.Duration // an ETag is cached, so Puppet answers quickly or not at all

	mu       sync.Mutex
	entries  map[string]cachedClasses
	inflight map[string]*pendingFetch
}

type cachedClasses struct {
	etag    string
	listing *ClassListing
}

type pendingFetch struct {
	done    chan struct{}
	listing *ClassListing
	err     error
}

func newClassCache(ctx context.Context, fetch fetchFunc, firstWait, cachedWait time.Duration) *classCache {
	return &classCache{ctx: ctx, fetch: fetch, firstWait: firstWait, cachedWait: cachedWait,
		entries: map[string]cachedClasses{}, inflight: map[string]*pendingFetch{}}
}

// get returns the current listing of environment, joining a fetch already under way.
func (c *classCache) get(ctx context.Context, environment string) (*ClassListing, error) {
	c.mu.Lock()
	entry := c.entries[environment]
	p := c.inflight[environment]
	if p == nil {
		p = &pendingFetch{done: make(chan struct{})}
		c.inflight[environment] = p
		go c.run(environment, entry, p)
	}
	c.mu.Unlock()

	wait := c.cachedWait
	if entry.etag == "" {
		wait = c.firstWait
		httpapi.LoggerFrom(ctx).Warn("Puppet server classes cache is disabled, classes retrieval can be slow.")
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.listing, p.err
	case <-timer.C:
		return nil, errTooSlow
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *classCache) run(environment string, entry cachedClasses, p *pendingFetch) {
	listing, etag, notModified, err := c.fetch(c.ctx, environment, entry.etag)
	if err == nil && notModified && entry.listing == nil {
		err = errors.New("Puppet answered 304 Not Modified but no listing is cached")
	}
	c.mu.Lock()
	delete(c.inflight, environment)
	switch {
	case errors.Is(err, errEnvironmentNotFound):
		delete(c.entries, environment)
	case err != nil:
	case notModified:
		listing = entry.listing
	default:
		c.entries[environment] = cachedClasses{etag: etag, listing: listing}
	}
	c.mu.Unlock()
	p.listing, p.err = listing, err
	close(p.done)
}
