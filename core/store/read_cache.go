package store

import (
	"context"
	"sync"
)

// readCacheKey is the context key of a request's read cache.
type readCacheKey struct{}

// readCache remembers objects loaded by id during one request.
type readCache struct {
	mu   sync.Mutex
	byID map[readCacheEntry]any
}

type readCacheEntry struct {
	kind string
	id   int64
}

// WithReadCache returns a context under which Domain, Subnet, OperatingSystem,
// Medium, Architecture and SmartProxy load each id from the database once: a host
// create asks for the same ones in validation, orchestration, rendering and its
// answer (about 20 round trips). Use it only for a request that does not change
// those objects; what it returns must be treated as read-only (slices are shared).
func WithReadCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, readCacheKey{}, &readCache{byID: map[readCacheEntry]any{}})
}

// cachedByID is load(id), remembered in ctx's read cache when there is one. Errors
// are not remembered.
func cachedByID[T any](ctx context.Context, kind string, id int64, load func() (T, error)) (T, error) {
	c, _ := ctx.Value(readCacheKey{}).(*readCache)
	if c == nil {
		return load()
	}
	key := readCacheEntry{kind, id}
	c.mu.Lock()
	v, ok := c.byID[key]
	c.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	loaded, err := load()
	if err == nil {
		c.mu.Lock()
		c.byID[key] = loaded
		c.mu.Unlock()
	}
	return loaded, err
}
