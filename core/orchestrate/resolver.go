package orchestrate

import (
	"context"
	"net"
	"sync/atomic"
)

// NewResolver resolves through the given DNS servers (host:port), taking them in
// turn, whatever /etc/resolv.conf says: the conflict pre-check must ask the DNS the
// proxies manage (foreman-core's dns_conflict_servers). No servers: the system resolver.
func NewResolver(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	var next atomic.Uint64
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, servers[(next.Add(1)-1)%uint64(len(servers))])
	}}
}
