package orchestrate

import (
	"context"
	"fmt"

	"github.com/smartproxy/smartproxy/core/store"
)

// target is a host with what orchestrating it needs: its domain, subnet, OS, medium
// and architecture, and the proxies serving it ("" when there is none).
type target struct {
	host   store.Host
	domain *store.Domain
	subnet *store.Subnet
	os     *store.OperatingSystem
	medium *store.Medium
	arch   string

	dnsProxy        string // the domain's DNS proxy: A records
	reverseDNSProxy string // the subnet's DNS proxy: PTR records
	dhcpProxy       string // the subnet's DHCP proxy
	tftpProxy       string // the subnet's TFTP proxy
	httpBoot        *store.SmartProxy
	templateProxy   string
	caProxy         string
}

// certname is the host's Puppet certificate name.
func (t *target) certname() string {
	if t.host.Certname != "" {
		return t.host.Certname
	}
	return t.host.Name
}

// resolve loads what the host refers to. Proxies are looked up once per run.
func (o *Orchestrator) resolve(ctx context.Context, h store.Host) (*target, error) {
	t := &target{host: h}
	seen := map[int64]store.SmartProxy{}
	proxy := func(id *int64) (*store.SmartProxy, error) {
		if id == nil {
			return nil, nil
		}
		if p, ok := seen[*id]; ok {
			return &p, nil
		}
		p, err := o.store.SmartProxy(ctx, *id)
		if err != nil {
			return nil, fmt.Errorf("loading smart proxy %d: %w", *id, err)
		}
		seen[*id] = p
		return &p, nil
	}
	url := func(id *int64, feature string) (string, error) {
		p, err := proxy(id)
		if p == nil || err != nil || !p.HasFeature(feature) {
			return "", err
		}
		return p.URL, nil
	}
	var err error
	if h.DomainID != nil {
		d, err := o.store.Domain(ctx, *h.DomainID)
		if err != nil {
			return nil, fmt.Errorf("loading domain %d: %w", *h.DomainID, err)
		}
		t.domain = &d
		if t.dnsProxy, err = url(d.DNSID, "DNS"); err != nil {
			return nil, err
		}
	}
	if h.SubnetID != nil {
		n, err := o.store.Subnet(ctx, *h.SubnetID)
		if err != nil {
			return nil, fmt.Errorf("loading subnet %d: %w", *h.SubnetID, err)
		}
		t.subnet = &n
		for _, p := range []struct {
			into    *string
			id      *int64
			feature string
		}{
			{&t.reverseDNSProxy, n.DNSID, "DNS"}, {&t.dhcpProxy, n.DHCPID, "DHCP"},
			{&t.tftpProxy, n.TFTPID, "TFTP"}, {&t.templateProxy, n.TemplateID, "Templates"},
		} {
			if *p.into, err = url(p.id, p.feature); err != nil {
				return nil, err
			}
		}
		if t.httpBoot, err = proxy(n.HTTPBootID); err != nil {
			return nil, err
		}
		// The core has no per-host Puppet CA proxy yet (Foreman's puppet_ca_proxy):
		// the first proxy serving the host that runs Puppet CA is used.
		for _, id := range []*int64{n.TFTPID, n.DHCPID, n.DNSID, n.TemplateID} {
			if t.caProxy != "" {
				break
			}
			if t.caProxy, err = url(id, "Puppet CA"); err != nil {
				return nil, err
			}
		}
	}
	if t.caProxy == "" && t.domain != nil {
		if t.caProxy, err = url(t.domain.DNSID, "Puppet CA"); err != nil {
			return nil, err
		}
	}
	if h.OperatingSystemID != nil {
		os, err := o.store.OperatingSystem(ctx, *h.OperatingSystemID)
		if err != nil {
			return nil, fmt.Errorf("loading operating system %d: %w", *h.OperatingSystemID, err)
		}
		t.os = &os
	}
	if h.MediumID != nil {
		m, err := o.store.Medium(ctx, *h.MediumID)
		if err != nil {
			return nil, fmt.Errorf("loading medium %d: %w", *h.MediumID, err)
		}
		t.medium = &m
	}
	if h.ArchitectureID != nil {
		a, err := o.store.Architecture(ctx, *h.ArchitectureID)
		if err != nil {
			return nil, fmt.Errorf("loading architecture %d: %w", *h.ArchitectureID, err)
		}
		t.arch = a.Name
	}
	return t, nil
}
