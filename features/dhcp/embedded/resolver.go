package embedded

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// nameCache resolves next-server host names (Foreman may send a name, hence the
// dhcp_filename_hostname capability) with a cache, so only the first reply after a
// change waits for DNS.
type nameCache struct {
	mu      sync.Mutex
	entries map[string]cachedName
}

type cachedName struct {
	ip      netip.Addr
	expires time.Time
}

const (
	nameTTL         = 5 * time.Minute
	negativeNameTTL = 30 * time.Second
	resolveTimeout  = time.Second
)

func newNameCache() *nameCache { return &nameCache{entries: map[string]cachedName{}} }

func (c *nameCache) resolve(ctx context.Context, host string) (netip.Addr, bool) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[host]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.ip, e.ip.IsValid()
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	e = cachedName{expires: now.Add(negativeNameTTL)}
	if ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host); err == nil && len(ips) > 0 {
		e = cachedName{ip: ips[0].Unmap(), expires: now.Add(nameTTL)}
	}
	c.mu.Lock()
	c.entries[host] = e
	c.mu.Unlock()
	return e.ip, e.ip.IsValid()
}
