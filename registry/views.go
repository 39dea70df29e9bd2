package registry

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// FeatureInfo is one entry of GET /v2/features.
type FeatureInfo struct {
	HTTPEnabled  bool           `json:"http_enabled"`
	HTTPSEnabled bool           `json:"https_enabled"`
	Settings     map[string]any `json:"settings"`
	State        State          `json:"state"`
	Capabilities []string       `json:"capabilities"`
}

// Running lists running features, sorted (GET /features).
func (r *Registry) Running() []string {
	out := []string{}
	for _, g := range r.groups {
		if g.State() == Running {
			out = append(out, g.feature.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Versions maps every running feature to its version (GET /version "modules").
func (r *Registry) Versions() map[string]string {
	out := map[string]string{}
	moduleVersion := strings.TrimSuffix(r.version, "-develop")
	for _, g := range r.groups {
		if g.State() != Running {
			continue
		}
		if v, ok := g.feature.(Versioned); ok {
			out[g.feature.Name()] = v.Version()
		} else {
			out[g.feature.Name()] = moduleVersion
		}
	}
	return out
}

// Info describes every feature whatever its state (GET /v2/features).
func (r *Registry) Info(ctx context.Context) map[string]FeatureInfo {
	out := make(map[string]FeatureInfo, len(r.groups))
	for _, g := range r.groups {
		out[g.feature.Name()] = r.info(ctx, g)
	}
	return out
}

func (r *Registry) info(ctx context.Context, g *group) FeatureInfo {
	g.mu.RLock()
	state := g.state
	settings := make(map[string]any, len(g.exposed))
	for k, v := range g.exposed {
		settings[k] = v
	}
	g.mu.RUnlock()
	info := FeatureInfo{State: state, Settings: settings, Capabilities: []string{}}
	if state == Running || state == Starting {
		info.HTTPEnabled = g.enabled.HTTP()
		info.HTTPSEnabled = g.enabled.HTTPS()
	}
	if state == Uninitialized {
		return info
	}
	var caps []string
	members := append([]Module{g.feature}, g.providers...)
	for _, m := range members {
		if c, ok := m.(Capable); ok {
			caps = append(caps, c.Capabilities()...)
		}
	}
	if state == Running {
		for _, m := range members {
			if p, ok := m.(CapabilityProber); ok {
				caps = append(caps, g.caps.get(ctx, m.Name(), p)...)
			}
		}
	}
	if caps = sortedUnique(caps); caps != nil {
		info.Capabilities = caps
	}
	return info
}

// capabilityTTL is how long a probe's answer is served before a background refresh.
const capabilityTTL = time.Minute

// capabilityFirstWait bounds how long the very first request waits for a probe; after
// that, requests are served from the cache and never wait.
const capabilityFirstWait = 200 * time.Millisecond

// capabilityCache remembers computed capabilities per module.
type capabilityCache struct {
	mu      sync.Mutex
	entries map[string]*capabilityEntry
}

type capabilityEntry struct {
	value      []string
	fetched    time.Time
	refreshing bool
	done       chan struct{} // closed when the first probe finishes
}

func (c *capabilityCache) get(ctx context.Context, name string, p CapabilityProber) []string {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*capabilityEntry{}
	}
	e := c.entries[name]
	if e == nil {
		e = &capabilityEntry{done: make(chan struct{})}
		c.entries[name] = e
		c.refresh(e, p)
	} else if time.Since(e.fetched) > capabilityTTL && !e.refreshing && !e.fetched.IsZero() {
		c.refresh(e, p)
	}
	done := e.done
	c.mu.Unlock()

	select {
	case <-done:
	case <-time.After(capabilityFirstWait):
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), e.value...)
}

// refresh probes in the background; called with c.mu held.
func (c *capabilityCache) refresh(e *capabilityEntry, p CapabilityProber) {
	e.refreshing = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		value, err := p.ProbeCapabilities(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err == nil {
			e.value = value
		}
		first := e.fetched.IsZero()
		e.fetched = time.Now()
		e.refreshing = false
		if first {
			close(e.done)
		}
	}()
}
