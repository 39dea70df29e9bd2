package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

type subnetJSON struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	NetworkType    string    `json:"network_type"`
	Network        string    `json:"network"`
	Mask           string    `json:"mask"`
	CIDR           int       `json:"cidr"`
	NetworkAddress string    `json:"network_address"`
	Gateway        string    `json:"gateway"`
	DNSPrimary     string    `json:"dns_primary"`
	DNSSecondary   string    `json:"dns_secondary"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	BootMode       string    `json:"boot_mode"`
	IPAM           string    `json:"ipam"`
	DHCPID         *int64    `json:"dhcp_id"`
	DHCPName       *string   `json:"dhcp_name"`
	TFTPID         *int64    `json:"tftp_id"`
	TFTPName       *string   `json:"tftp_name"`
	DNSID          *int64    `json:"dns_id"`
	DNSName        *string   `json:"dns_name"`
	TemplateID     *int64    `json:"template_id"`
	TemplateName   *string   `json:"template_name"`
	HTTPBootID     *int64    `json:"httpboot_id"`
	HTTPBootName   *string   `json:"httpboot_name"`
	DomainIDs      []int64   `json:"domain_ids"`
	Domains        []idName  `json:"domains"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

type idName struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func (a *API) subnetView(ctx context.Context, n store.Subnet) (subnetJSON, error) {
	ones, _ := net.IPMask(net.ParseIP(n.Mask).To4()).Size()
	v := subnetJSON{ID: n.ID, Name: n.Name, NetworkType: "IPv4", Network: n.Network, Mask: n.Mask, CIDR: ones,
		NetworkAddress: fmt.Sprintf("%s/%d", n.Network, ones), Gateway: n.Gateway, DNSPrimary: n.DNSPrimary,
		DNSSecondary: n.DNSSecondary, From: n.From, To: n.To, BootMode: n.BootMode, IPAM: n.IPAM,
		DHCPID: n.DHCPID, TFTPID: n.TFTPID, DNSID: n.DNSID, TemplateID: n.TemplateID, HTTPBootID: n.HTTPBootID,
		DomainIDs: n.DomainIDs, Domains: []idName{}, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
	proxyName := func(p store.SmartProxy) string { return p.Name }
	for _, ref := range []struct {
		id   *int64
		name **string
	}{{n.DHCPID, &v.DHCPName}, {n.TFTPID, &v.TFTPName}, {n.DNSID, &v.DNSName}, {n.TemplateID, &v.TemplateName}, {n.HTTPBootID, &v.HTTPBootName}} {
		name, err := nameOf(ctx, ref.id, a.store.SmartProxy, proxyName)
		if err != nil {
			return v, err
		}
		*ref.name = name
	}
	for _, id := range n.DomainIDs {
		d, err := a.store.Domain(ctx, id)
		if err != nil {
			return v, err
		}
		v.Domains = append(v.Domains, idName{d.ID, d.Name})
	}
	return v, nil
}

type subnetParams struct {
	Name         *string `json:"name"`
	Network      *string `json:"network"`
	Mask         *string `json:"mask"`
	CIDR         *int    `json:"cidr"`
	Gateway      *string `json:"gateway"`
	DNSPrimary   *string `json:"dns_primary"`
	DNSSecondary *string `json:"dns_secondary"`
	From         *string `json:"from"`
	To           *string `json:"to"`
	BootMode     *string `json:"boot_mode"`
	IPAM         *string `json:"ipam"`
	DHCPID       optID   `json:"dhcp_id"`
	TFTPID       optID   `json:"tftp_id"`
	DNSID        optID   `json:"dns_id"`
	TemplateID   optID   `json:"template_id"`
	HTTPBootID   optID   `json:"httpboot_id"`
	DomainIDs    ids     `json:"domain_ids"`
}

// Foreman's choices (Subnet::BOOT_MODES, IPAM::MODES).
var (
	bootModes = []string{"DHCP", "Static"}
	ipamModes = []string{"DHCP", "Internal DB", "Random DB", "EUI-64", "External IPAM", "None"}
)

func (a *API) listSubnets(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	ctx := c.Request().Context()
	counts, list, err := a.store.ListSubnets(ctx, opts)
	views := make([]subnetJSON, len(list))
	for i, n := range list {
		if views[i], err = a.subnetView(ctx, n); err != nil {
			break
		}
	}
	return respond.Listed(c, idx, counts, views, err)
}

func (a *API) findSubnet(c echo.Context) (store.Subnet, bool, error) {
	id, name := idParam(c, "id")
	ctx := c.Request().Context()
	var n store.Subnet
	var err error
	if name != "" {
		n, err = a.store.SubnetByName(ctx, name)
	} else {
		n, err = a.store.Subnet(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return n, true, respond.NotFound(c, "subnet", respond.Param(c, "id"))
	}
	return n, err != nil, err
}

func (a *API) showSubnet(c echo.Context) error {
	n, handled, err := a.findSubnet(c)
	if handled {
		return err
	}
	view, err := a.subnetView(c.Request().Context(), n)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createSubnet(c echo.Context) error {
	return a.saveSubnet(c, store.Subnet{BootMode: "DHCP", IPAM: "DHCP"}, http.StatusCreated)
}

func (a *API) updateSubnet(c echo.Context) error {
	n, handled, err := a.findSubnet(c)
	if handled {
		return err
	}
	n.DomainIDs = nil // kept unless domain_ids is given
	return a.saveSubnet(c, n, http.StatusOK)
}

func (a *API) saveSubnet(c echo.Context, n store.Subnet, status int) error {
	var in subnetParams
	if handled, err := respond.DecodeBody(c, &in, "subnet"); handled {
		return err
	}
	for _, f := range []struct {
		dst *string
		in  *string
	}{{&n.Name, in.Name}, {&n.Network, in.Network}, {&n.Mask, in.Mask}, {&n.Gateway, in.Gateway},
		{&n.DNSPrimary, in.DNSPrimary}, {&n.DNSSecondary, in.DNSSecondary}, {&n.From, in.From}, {&n.To, in.To},
		{&n.BootMode, in.BootMode}, {&n.IPAM, in.IPAM}} {
		setString(f.dst, f.in)
	}
	v := &respond.Errors{}
	if in.CIDR != nil {
		if *in.CIDR < 0 || *in.CIDR > 32 {
			v.Add("cidr", "is invalid")
		} else if in.Mask == nil {
			n.Mask = net.IP(net.CIDRMask(*in.CIDR, 32)).String()
		}
	}
	in.DHCPID.apply(&n.DHCPID)
	in.TFTPID.apply(&n.TFTPID)
	in.DNSID.apply(&n.DNSID)
	in.TemplateID.apply(&n.TemplateID)
	in.HTTPBootID.apply(&n.HTTPBootID)
	if in.DomainIDs != nil {
		n.DomainIDs = in.DomainIDs
	}
	ctx := c.Request().Context()
	if err := a.validateSubnet(ctx, v, &n); err != nil {
		return err
	}
	id := recordID(n.ID)
	if v.Any() {
		return respond.Unprocessable(c, id, v)
	}
	var err error
	if n.ID == 0 {
		err = a.store.CreateSubnet(ctx, &n)
	} else {
		err = a.store.UpdateSubnet(ctx, &n)
	}
	if err != nil {
		return saveFailed(c, id, err)
	}
	saved, err := a.store.Subnet(ctx, n.ID)
	if err != nil {
		return err
	}
	view, err := a.subnetView(ctx, saved)
	if err != nil {
		return err
	}
	return c.JSON(status, view)
}

// validateSubnet checks an IPv4 subnet as Foreman's Subnet::Ipv4 does.
func (a *API) validateSubnet(ctx context.Context, v *respond.Errors, n *store.Subnet) error {
	if n.Name == "" {
		v.Add("name", "can't be blank")
	}
	network := ipv4(n.Network)
	switch {
	case n.Network == "":
		v.Add("network", "can't be blank")
	case network == nil:
		v.Add("network", "is invalid")
	}
	mask := ipv4(n.Mask)
	switch {
	case n.Mask == "":
		v.Add("mask", "can't be blank")
	case mask == nil:
		v.Add("mask", "is invalid")
	default:
		if ones, bits := net.IPMask(mask).Size(); bits == 0 {
			v.Add("mask", "is invalid")
		} else if network != nil && !network.Equal(network.Mask(net.CIDRMask(ones, 32))) {
			v.Add("network", "is not the network address of mask %s", n.Mask)
		}
	}
	inside := func(ip net.IP) bool {
		return network == nil || mask == nil || ip.Mask(net.IPMask(mask)).Equal(network.Mask(net.IPMask(mask)))
	}
	addrs := map[string]net.IP{}
	for _, f := range []struct {
		field, value string
		inSubnet     bool
	}{{"gateway", n.Gateway, true}, {"dns_primary", n.DNSPrimary, false}, {"dns_secondary", n.DNSSecondary, false},
		{"from", n.From, true}, {"to", n.To, true}} {
		if f.value == "" {
			continue
		}
		ip := ipv4(f.value)
		switch {
		case ip == nil:
			v.Add(f.field, "is invalid")
		case f.inSubnet && !inside(ip):
			v.Add(f.field, "does not belong to subnet")
		default:
			addrs[f.field] = ip
		}
	}
	switch {
	case n.From != "" && n.To == "":
		v.Add("to", "must be specified if from is defined")
	case n.To != "" && n.From == "":
		v.Add("from", "must be specified if to is defined")
	case addrs["from"] != nil && addrs["to"] != nil && bytes.Compare(addrs["from"], addrs["to"]) > 0:
		v.Add("from", "can't be bigger than to range")
	}
	if !slices.Contains(bootModes, n.BootMode) {
		v.Add("boot_mode", "is not included in the list")
	}
	if !slices.Contains(ipamModes, n.IPAM) {
		v.Add("ipam", "is not included in the list")
	}
	for _, ref := range []struct {
		field   string
		id      *int64
		feature string
	}{{"dhcp_id", n.DHCPID, "DHCP"}, {"tftp_id", n.TFTPID, "TFTP"}, {"dns_id", n.DNSID, "DNS"},
		{"template_id", n.TemplateID, "Templates"}, {"httpboot_id", n.HTTPBootID, "HTTPBoot"}} {
		if err := a.checkProxy(ctx, v, ref.field, ref.id, ref.feature); err != nil {
			return err
		}
	}
	return checkAllExist(ctx, v, "domain_ids", "domain", n.DomainIDs, a.store.Domain)
}

// ipv4 parses a dotted IPv4 address (4 bytes), nil if it is not one.
func ipv4(s string) net.IP {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil
	}
	return ip.To4()
}

func (a *API) destroySubnet(c echo.Context) error {
	n, handled, err := a.findSubnet(c)
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.SubnetUsedBy(ctx, n.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, n.ID, n.Name, users)
	}
	view, err := a.subnetView(ctx, n)
	if err != nil {
		return err
	}
	if err := a.store.DeleteSubnet(ctx, n.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}
