package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

type hostJSON struct {
	ID                  int64                    `json:"id"`
	Name                string                   `json:"name"`
	Certname            string                   `json:"certname"`
	IP                  *string                  `json:"ip"`
	MAC                 *string                  `json:"mac"`
	DomainID            *int64                   `json:"domain_id"`
	DomainName          *string                  `json:"domain_name"`
	SubnetID            *int64                   `json:"subnet_id"`
	SubnetName          *string                  `json:"subnet_name"`
	ArchitectureID      *int64                   `json:"architecture_id"`
	ArchitectureName    *string                  `json:"architecture_name"`
	OperatingSystemID   *int64                   `json:"operatingsystem_id"`
	OperatingSystemName *string                  `json:"operatingsystem_name"`
	MediumID            *int64                   `json:"medium_id"`
	MediumName          *string                  `json:"medium_name"`
	PXELoader           *string                  `json:"pxe_loader"`
	Build               bool                     `json:"build"`
	Parameters          []parameterJSON          `json:"parameters"`
	Infrastructure      *infrastructureFacetJSON `json:"infrastructure_facet,omitempty"`
	CreatedAt           time.Time                `json:"created_at"`
	UpdatedAt           time.Time                `json:"updated_at"`
}

type parameterJSON struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// infrastructureFacetJSON is present only when the host has the facet: the installer's
// foreman_smartproxy_host reads host['infrastructure_facet']['smart_proxy_id'] and
// crashes on a null facet (foreman-clients.md §3).
type infrastructureFacetJSON struct {
	ForemanInstance bool   `json:"foreman_instance"`
	SmartProxyID    *int64 `json:"smart_proxy_id"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// hostView is the host's JSON. memo (may be nil) keeps the names of referenced
// records for the rest of the request: the hosts of an index page mostly share their
// domain, subnet and OS.
func (a *API) hostView(ctx context.Context, h store.Host, memo map[string]*string) (hostJSON, error) {
	if memo == nil {
		memo = map[string]*string{}
	}
	v := hostJSON{ID: h.ID, Name: h.Name, Certname: h.Certname, IP: optional(h.IP), MAC: optional(h.MAC),
		DomainID: h.DomainID, SubnetID: h.SubnetID, ArchitectureID: h.ArchitectureID,
		OperatingSystemID: h.OperatingSystemID, MediumID: h.MediumID, PXELoader: optional(h.PXELoader),
		Build: h.Build, Parameters: []parameterJSON{}, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt}
	if v.Certname == "" {
		v.Certname = h.Name
	}
	var err error
	if v.DomainName, err = memoName(ctx, memo, "domain", h.DomainID, a.store.Domain, func(d store.Domain) string { return d.Name }); err != nil {
		return v, err
	}
	if v.SubnetName, err = memoName(ctx, memo, "subnet", h.SubnetID, a.store.Subnet, func(n store.Subnet) string { return n.Name }); err != nil {
		return v, err
	}
	if v.ArchitectureName, err = memoName(ctx, memo, "architecture", h.ArchitectureID, a.store.Architecture, func(x store.Architecture) string { return x.Name }); err != nil {
		return v, err
	}
	if v.OperatingSystemName, err = memoName(ctx, memo, "os", h.OperatingSystemID, a.store.OperatingSystem, store.OperatingSystem.Title); err != nil {
		return v, err
	}
	if v.MediumName, err = memoName(ctx, memo, "medium", h.MediumID, a.store.Medium, func(m store.Medium) string { return m.Name }); err != nil {
		return v, err
	}
	for _, p := range h.Parameters {
		v.Parameters = append(v.Parameters, parameterJSON{p.ID, p.Name, p.Value})
	}
	if f := h.Infrastructure; f != nil {
		v.Infrastructure = &infrastructureFacetJSON{ForemanInstance: f.ForemanInstance, SmartProxyID: f.SmartProxyID}
	}
	return v, nil
}

type hostParams struct {
	Name              *string `json:"name"`
	Certname          *string `json:"certname"`
	MAC               *string `json:"mac"`
	IP                *string `json:"ip"`
	DomainID          optID   `json:"domain_id"`
	SubnetID          optID   `json:"subnet_id"`
	ArchitectureID    optID   `json:"architecture_id"`
	OperatingSystemID optID   `json:"operatingsystem_id"`
	MediumID          optID   `json:"medium_id"`
	PXELoader         *string `json:"pxe_loader"`
	Build             *bool   `json:"build"`
	Overwrite         *bool   `json:"overwrite"` // replace conflicting DHCP/DNS records (not stored)
	Parameters        *[]struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"host_parameters_attributes"`
	Infrastructure *struct {
		ForemanInstance bool  `json:"foreman_instance"`
		SmartProxyID    optID `json:"smart_proxy_id"`
	} `json:"infrastructure_facet_attributes"`
}

func (a *API) listHosts(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	ctx := c.Request().Context()
	counts, list, err := a.store.ListHosts(ctx, opts)
	views := make([]hostJSON, len(list))
	memo := map[string]*string{}
	for i, h := range list {
		if views[i], err = a.hostView(ctx, h, memo); err != nil {
			break
		}
	}
	return respond.Listed(c, idx, counts, views, err)
}

// findHost resolves a host parameter: an id or a name.
func (a *API) findHost(c echo.Context, paramName string) (store.Host, bool, error) {
	raw := respond.Param(c, paramName)
	ctx := c.Request().Context()
	// Host names contain dots and digits ("10-web.example.com"); only a bare number is an id.
	h, err := a.store.HostByName(ctx, strings.ToLower(raw))
	if errors.Is(err, store.ErrNotFound) {
		if id, name := idParam(c, paramName); name == "" {
			h, err = a.store.Host(ctx, id)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return h, true, respond.NotFound(c, "host", raw)
	}
	return h, err != nil, err
}

func (a *API) showHost(c echo.Context) error {
	h, handled, err := a.findHost(c, "id")
	if handled {
		return err
	}
	view, err := a.hostView(c.Request().Context(), h, nil)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createHost(c echo.Context) error {
	// Validation, orchestration, the PXE configs and the answer all load the host's
	// domain, subnet, OS, medium, architecture and proxies: once each is enough.
	c.SetRequest(c.Request().WithContext(store.WithReadCache(c.Request().Context())))
	var h store.Host
	if handled, err := a.readHost(c, &h); handled {
		return err
	}
	ctx := c.Request().Context()
	err := a.orch.Create(ctx, &h, func(ctx context.Context) error { return a.store.CreateHost(ctx, &h) })
	if err != nil {
		return saveFailed(c, nil, err)
	}
	return a.answerHost(c, h.ID, http.StatusCreated)
}

func (a *API) updateHost(c echo.Context) error {
	old, handled, err := a.findHost(c, "id")
	if handled {
		return err
	}
	h := old
	h.Parameters = nil // kept unless host_parameters_attributes is given
	h.Infrastructure = nil
	if handled, err := a.readHost(c, &h); handled {
		return err
	}
	ctx := c.Request().Context()
	err = a.orch.Update(ctx, old, &h, func(ctx context.Context) error { return a.store.UpdateHost(ctx, &h) })
	if err != nil {
		return saveFailed(c, h.ID, err)
	}
	return a.answerHost(c, h.ID, http.StatusOK)
}

func (a *API) answerHost(c echo.Context, id int64, status int) error {
	ctx := c.Request().Context()
	saved, err := a.store.Host(ctx, id)
	if err != nil {
		return err
	}
	view, err := a.hostView(ctx, saved, nil)
	if err != nil {
		return err
	}
	return c.JSON(status, view)
}

func (a *API) destroyHost(c echo.Context) error {
	h, handled, err := a.findHost(c, "id")
	if handled {
		return err
	}
	ctx := c.Request().Context()
	view, err := a.hostView(ctx, h, nil)
	if err != nil {
		return err
	}
	err = a.orch.Destroy(ctx, h, func(ctx context.Context) error { return a.store.DeleteHost(ctx, h.ID) })
	if err != nil {
		return saveFailed(c, h.ID, err)
	}
	return c.JSON(http.StatusOK, view)
}

// hostName is an FQDN or a short name: DNS labels.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// readHost applies the request body to h and validates the result; handled is true
// when it answered (400, 422).
func (a *API) readHost(c echo.Context, h *store.Host) (handled bool, err error) {
	var in hostParams
	if handled, err := respond.DecodeBody(c, &in, "host"); handled {
		return true, err
	}
	setString(&h.Name, in.Name)
	setString(&h.Certname, in.Certname)
	setString(&h.MAC, in.MAC)
	setString(&h.IP, in.IP)
	setString(&h.PXELoader, in.PXELoader)
	in.DomainID.apply(&h.DomainID)
	in.SubnetID.apply(&h.SubnetID)
	in.ArchitectureID.apply(&h.ArchitectureID)
	in.OperatingSystemID.apply(&h.OperatingSystemID)
	in.MediumID.apply(&h.MediumID)
	if in.Build != nil {
		h.Build = *in.Build
	}
	if in.Overwrite != nil && *in.Overwrite {
		c.SetRequest(c.Request().WithContext(WithOverwrite(c.Request().Context())))
	}
	v := &respond.Errors{}
	if in.Parameters != nil {
		h.Parameters = []store.Parameter{}
		seen := map[string]bool{}
		for _, p := range *in.Parameters {
			name := strings.TrimSpace(p.Name)
			switch {
			case name == "":
				v.Add("host_parameters.name", "can't be blank")
			case seen[name]:
				v.Add("host_parameters.name", "has already been taken")
			}
			seen[name] = true
			h.Parameters = append(h.Parameters, store.Parameter{Name: name, Value: p.Value})
		}
	}
	if f := in.Infrastructure; f != nil {
		h.Infrastructure = &store.InfrastructureFacet{ForemanInstance: f.ForemanInstance, SmartProxyID: f.SmartProxyID.ID}
	}
	ctx := c.Request().Context()
	if err := a.validateHost(ctx, v, h); err != nil {
		return true, err
	}
	if v.Any() {
		return true, respond.Unprocessable(c, recordID(h.ID), v)
	}
	return false, nil
}

// validateHost normalises (lower-case name completed with the domain, MAC in
// lower-case colon form) and checks a host.
func (a *API) validateHost(ctx context.Context, v *respond.Errors, h *store.Host) error {
	h.Name = strings.TrimSuffix(strings.ToLower(h.Name), ".")
	if h.DomainID != nil {
		d, err := a.store.Domain(ctx, *h.DomainID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("domain_id", "not found: no domain with id %d", *h.DomainID)
		case err != nil:
			return err
		case h.Name != "" && !strings.Contains(h.Name, "."):
			h.Name += "." + d.Name
		}
	}
	switch {
	case h.Name == "":
		v.Add("name", "can't be blank")
	case !hostName.MatchString(h.Name):
		v.Add("name", "is invalid")
	}
	if h.MAC != "" {
		hw, err := net.ParseMAC(h.MAC)
		if err != nil || len(hw) != 6 {
			v.Add("mac", "is invalid")
		} else {
			h.MAC = hw.String()
		}
	}
	var subnet *store.Subnet
	if h.SubnetID != nil {
		n, err := a.store.Subnet(ctx, *h.SubnetID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("subnet_id", "not found: no subnet with id %d", *h.SubnetID)
		case err != nil:
			return err
		default:
			subnet = &n
		}
	}
	if h.IP != "" {
		ip := ipv4(h.IP)
		switch {
		case ip == nil:
			v.Add("ip", "is invalid")
		case subnet != nil && !ip.Mask(net.IPMask(ipv4(subnet.Mask))).Equal(ipv4(subnet.Network)):
			v.Add("ip", "does not match selected subnet")
		default:
			h.IP = ip.String()
		}
	}
	if err := checkExists(ctx, v, "architecture_id", "architecture", h.ArchitectureID, a.store.Architecture); err != nil {
		return err
	}
	if err := checkExists(ctx, v, "medium_id", "medium", h.MediumID, a.store.Medium); err != nil {
		return err
	}
	if h.PXELoader != "" && !slices.Contains(pxeLoaders, h.PXELoader) {
		v.Add("pxe_loader", "is not included in the list")
	}
	if h.OperatingSystemID != nil {
		o, err := a.store.OperatingSystem(ctx, *h.OperatingSystemID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("operatingsystem_id", "not found: no operating system with id %d", *h.OperatingSystemID)
		case err != nil:
			return err
		case h.PXELoader != "" && h.PXELoader != "None" && len(o.PXELoaders) > 0 && !slices.Contains(o.PXELoaders, h.PXELoader):
			v.Add("pxe_loader", "is not one of the PXE loaders of %s (%s)", o.Title(), strings.Join(o.PXELoaders, ", "))
		}
	}
	if f := h.Infrastructure; f != nil && f.SmartProxyID != nil {
		if err := checkExists(ctx, v, "infrastructure_facet.smart_proxy_id", "smart proxy", f.SmartProxyID, a.store.SmartProxy); err != nil {
			return err
		}
	}
	return nil
}
