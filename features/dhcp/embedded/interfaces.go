package embedded

import (
	"net"
	"net/netip"
	"time"
)

// ifaceInfo is what the server needs to know about a receiving interface.
type ifaceInfo struct {
	name  string
	addrs []netip.Addr // IPv4 only
}

// ifaceCache maps interface indexes to names and addresses, read in the server's
// namespace. Only the read loop uses it, so it has no lock.
type ifaceCache struct {
	netns     string
	byIndex   map[int]ifaceInfo
	refreshed time.Time
}

// staleAfter bounds how long an address change goes unnoticed.
const staleAfter = 5 * time.Second

func newIfaceCache(netns string) *ifaceCache {
	return &ifaceCache{netns: netns, byIndex: map[int]ifaceInfo{}}
}

// get returns the interface, re-reading the list when it is stale or the index is
// new (at most once a second, so a flood from an unknown index cannot make us spin).
func (c *ifaceCache) get(index int, now time.Time) (ifaceInfo, bool) {
	info, ok := c.byIndex[index]
	age := now.Sub(c.refreshed)
	if age > staleAfter || (!ok && age > time.Second) {
		c.refresh(now)
		info, ok = c.byIndex[index]
	}
	return info, ok
}

func (c *ifaceCache) refresh(now time.Time) {
	c.refreshed = now
	fresh := map[int]ifaceInfo{}
	_ = inNetns(c.netns, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifc := range ifs {
			info := ifaceInfo{name: ifc.Name}
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
						info.addrs = append(info.addrs, ip.Unmap())
					}
				}
			}
			fresh[ifc.Index] = info
		}
		return nil
	})
	if len(fresh) > 0 {
		c.byIndex = fresh
	}
}
