package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/smartproxy/smartproxy/core/store"
)

// Vars is what every template sees as "." (README.md lists it with examples). Parts
// the host does not have are zero values: {{if .Subnet.Name}} tests for a subnet.
type Vars struct {
	Host       HostVars
	Interfaces []Interface // the provisioning interface (a host has one NIC in this core)
	Subnet     SubnetVars
	Domain     DomainVars
	OS         OSVars
	Arch       string
	Medium     MediumVars
	Boot       BootFiles
	HTTPBoot   string // host:port of the subnet's HTTPBoot proxy, "" without one
	Token      string // the build token, "" when the host is not in build or tokens are off
	Puppet     PuppetVars
	Params     map[string]string // host parameters by name
	Static     bool              // static network setup: subnet boot mode Static or ?static= on the request
	Kind       string            // the kind asked for: provision, finish, PXELinux, ...
	Template   string            // the template's name
}

// HostVars is the host itself.
type HostVars struct {
	ID        int64
	Name      string // FQDN
	ShortName string // Name without the domain
	Certname  string // Puppet certname (the name when none is set)
	MAC, IP   string
	Build     bool
	PXELoader string
}

// Interface is one NIC of the host.
type Interface struct {
	Identifier string // "" : the installer picks the NIC by MAC
	MAC, IP    string
	Primary    bool
	Provision  bool
	Managed    bool
}

// SubnetVars is the host's subnet.
type SubnetVars struct {
	Name, Network, Mask      string
	Prefix                   int // mask length
	Gateway                  string
	DNSPrimary, DNSSecondary string
	BootMode                 string
}

// DomainVars is the host's domain.
type DomainVars struct{ Name, Fullname string }

// OSVars is the host's operating system.
type OSVars struct {
	Name, Major, Minor, Family, ReleaseName string
	Title                                   string // "AlmaLinux 9.4" or the description
}

// MediumVars is the installation medium, its path expanded for the host's OS and arch.
type MediumVars struct {
	Name string
	URL  string // e.g. http://mirror.example.com/almalinux/9.4/BaseOS/x86_64/os
	Host string // URL's host[:port] (preseed's mirror/http/hostname)
	Path string // URL's path (preseed's mirror/http/directory)
}

// PuppetVars is where the installed host finds Puppet.
type PuppetVars struct {
	Server string // host parameter puppet_server, else the Puppet proxy's puppet_url host, else its host
	CA     string // host parameter puppet_ca_server, else the same from the Puppet CA proxy
}

// loadVars gathers a host's related rows. A missing reference is left zero: the
// template decides whether it needs it.
func loadVars(ctx context.Context, st *store.Store, h store.Host) (Vars, error) {
	v := Vars{
		Host: HostVars{ID: h.ID, Name: h.Name, ShortName: h.Name, Certname: h.Certname, MAC: h.MAC, IP: h.IP,
			Build: h.Build, PXELoader: h.PXELoader},
		Interfaces: []Interface{{MAC: h.MAC, IP: h.IP, Primary: true, Provision: true, Managed: true}},
		Params:     map[string]string{},
	}
	if v.Host.Certname == "" {
		v.Host.Certname = h.Name
	}
	for _, p := range h.Parameters {
		v.Params[p.Name] = p.Value
	}
	if h.DomainID != nil {
		d, err := st.Domain(ctx, *h.DomainID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		v.Domain = DomainVars{Name: d.Name, Fullname: d.Fullname}
		if d.Name != "" {
			v.Host.ShortName = strings.TrimSuffix(h.Name, "."+d.Name)
		}
	}
	if h.SubnetID != nil {
		if err := v.loadSubnet(ctx, st, *h.SubnetID); err != nil {
			return v, err
		}
	}
	var opsys store.OperatingSystem
	if h.OperatingSystemID != nil {
		var err error
		if opsys, err = st.OperatingSystem(ctx, *h.OperatingSystemID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		v.OS = OSVars{Name: opsys.Name, Major: opsys.Major, Minor: opsys.Minor, Family: opsys.Family, ReleaseName: opsys.ReleaseName}
		if opsys.ID != 0 {
			v.OS.Title = opsys.Title()
		}
	}
	if h.ArchitectureID != nil {
		a, err := st.Architecture(ctx, *h.ArchitectureID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		v.Arch = a.Name
	}
	if h.MediumID != nil {
		m, err := st.Medium(ctx, *h.MediumID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return v, err
		}
		if m.ID != 0 {
			v.Medium = MediumVars{Name: m.Name, URL: strings.TrimRight(m.URLFor(opsys, v.Arch), "/")}
			if u, err := url.Parse(v.Medium.URL); err == nil {
				v.Medium.Host, v.Medium.Path = u.Host, u.Path
			}
			v.Boot = BootFilesFor(opsys, m, v.Arch)
		}
	}
	var err error
	if v.Puppet.Server, err = puppetHost(ctx, st, v.Params["puppet_server"], "Puppet"); err != nil {
		return v, err
	}
	if v.Puppet.CA, err = puppetHost(ctx, st, v.Params["puppet_ca_server"], "Puppet CA"); err != nil {
		return v, err
	}
	return v, nil
}

func (v *Vars) loadSubnet(ctx context.Context, st *store.Store, id int64) error {
	n, err := st.Subnet(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v.Subnet = SubnetVars{Name: n.Name, Network: n.Network, Mask: n.Mask, Gateway: n.Gateway,
		DNSPrimary: n.DNSPrimary, DNSSecondary: n.DNSSecondary, BootMode: n.BootMode}
	if ip := net.ParseIP(n.Mask).To4(); ip != nil {
		v.Subnet.Prefix, _ = net.IPMask(ip).Size()
	}
	v.Static = strings.EqualFold(n.BootMode, "Static")
	if n.HTTPBootID != nil {
		p, err := st.SmartProxy(ctx, *n.HTTPBootID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v.HTTPBoot = httpBootAddress(p)
	}
	return nil
}

// httpBootAddress is host:port where the HTTPBoot proxy serves /httpboot: its URL's
// host with the http_port it reports, else the URL's own port.
func httpBootAddress(p store.SmartProxy) string {
	u, err := url.Parse(p.URL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if n, ok := p.Setting("HTTPBoot", "http_port").(float64); ok && n > 0 {
		port = strconv.Itoa(int(n))
	}
	if port == "" {
		return u.Hostname()
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// puppetHost is override when set, else the host named by the puppet_url setting of
// the first registered proxy with feature, else that proxy's own host; "" when no
// proxy has it.
func puppetHost(ctx context.Context, st *store.Store, override, feature string) (string, error) {
	if override != "" {
		return override, nil
	}
	list, err := st.ProxyHosts(ctx, feature)
	if err != nil || len(list) == 0 {
		return "", err
	}
	p, err := st.SmartProxy(ctx, list[0].ID)
	if err != nil {
		return "", fmt.Errorf("loading smart proxy %s: %w", list[0].Name, err)
	}
	if raw, ok := p.Setting(feature, "puppet_url").(string); ok && raw != "" {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			return u.Hostname(), nil
		}
	}
	return list[0].Host, nil
}
