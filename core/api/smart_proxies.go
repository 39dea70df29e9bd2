package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// smartProxyJSON is api/v2/smart_proxies/show.json.rabl (index rows carry the same).
type smartProxyJSON struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"`
	URL           string        `json:"url"`
	HostsCount    int           `json:"hosts_count"`
	Features      []featureJSON `json:"features"`
	Status        string        `json:"status,omitempty"`  // include_status=true
	Version       string        `json:"version,omitempty"` // include_version=true
	Locations     []any         `json:"locations"`
	Organizations []any         `json:"organizations"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

type featureJSON struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	Capabilities []string `json:"capabilities"`
	Version      string   `json:"version,omitempty"` // include_version=true
}

func smartProxyView(p store.SmartProxy) smartProxyJSON {
	v := smartProxyJSON{ID: p.ID, Name: p.Name, URL: p.URL, HostsCount: p.HostsCount, Features: []featureJSON{},
		Locations: []any{}, Organizations: []any{}, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	for _, f := range p.Features {
		v.Features = append(v.Features, featureJSON{ID: f.ID, Name: f.Name, Capabilities: f.Capabilities})
	}
	return v
}

type smartProxyParams struct {
	Name *string `json:"name"`
	URL  *string `json:"url"`
}

func (a *API) listSmartProxies(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	counts, list, err := a.store.ListSmartProxies(c.Request().Context(), opts)
	views := make([]smartProxyJSON, len(list))
	for i, p := range list {
		views[i] = smartProxyView(p)
	}
	if c.QueryParam("include_status") == "true" {
		a.addStatus(c.Request().Context(), views)
	}
	return respond.Listed(c, idx, counts, views, err)
}

// findSmartProxy resolves :id (an id or a name); handled is true when it answered 404.
func (a *API) findSmartProxy(c echo.Context, paramName string) (p store.SmartProxy, handled bool, err error) {
	id, name := idParam(c, paramName)
	ctx := c.Request().Context()
	if name != "" {
		p, err = a.store.SmartProxyByName(ctx, name)
	} else {
		p, err = a.store.SmartProxy(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return p, true, respond.NotFound(c, "smart_proxy", respond.Param(c, paramName))
	}
	return p, err != nil, err
}

func (a *API) showSmartProxy(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	view := smartProxyView(p)
	if c.QueryParam("include_version") == "true" {
		a.addVersion(c.Request().Context(), &view)
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createSmartProxy(c echo.Context) error {
	var in smartProxyParams
	if handled, err := respond.DecodeBody(c, &in, "smart_proxy"); handled {
		return err
	}
	p := store.SmartProxy{}
	setString(&p.Name, in.Name)
	setString(&p.URL, in.URL)
	if handled, err := a.saveSmartProxy(c, &p, true, nil); handled {
		return err
	}
	return c.JSON(http.StatusCreated, smartProxyView(p))
}

func (a *API) updateSmartProxy(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	var in smartProxyParams
	if handled, err := respond.DecodeBody(c, &in, "smart_proxy"); handled {
		return err
	}
	oldURL := p.URL
	setString(&p.Name, in.Name)
	setString(&p.URL, in.URL)
	// Foreman discovers the features again when the URL changes.
	rediscover := strings.TrimRight(p.URL, "/") != oldURL
	if handled, err := a.saveSmartProxy(c, &p, rediscover, p.ID); handled {
		return err
	}
	return c.JSON(http.StatusOK, smartProxyView(p))
}

// saveSmartProxy validates p, discovers its features when asked (§6.3: the save aborts
// when discovery fails) and writes it. handled is true when it answered (422, 5xx).
func (a *API) saveSmartProxy(c echo.Context, p *store.SmartProxy, discover bool, id any) (handled bool, err error) {
	ctx := c.Request().Context()
	p.URL = strings.TrimRight(p.URL, "/")
	v := &respond.Errors{}
	if p.Name == "" {
		v.Add("name", "can't be blank")
	}
	if p.URL == "" {
		v.Add("url", "can't be blank")
	} else if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add("url", "URL must be valid and schema must be one of http and https")
	}
	// Uniqueness before discovery, so a duplicate is refused without calling the proxy.
	if other, err := a.store.SmartProxyByName(ctx, p.Name); err == nil && other.ID != p.ID {
		v.Add("name", "has already been taken")
	}
	if other, err := a.store.SmartProxyByURL(ctx, p.URL); err == nil && other.ID != p.ID {
		v.Add("url", "has already been taken")
	}
	if v.Any() {
		return true, respond.Unprocessable(c, id, v)
	}
	if discover {
		features, err := a.proxies.Features(ctx, p.URL)
		if err != nil {
			return true, discoveryFailed(c, id, err)
		}
		p.Features = storedFeatures(features)
	}
	if p.ID == 0 {
		err = a.store.CreateSmartProxy(ctx, p)
	} else {
		err = a.store.UpdateSmartProxy(ctx, p)
	}
	if err != nil {
		return true, saveFailed(c, id, err)
	}
	// Read back for hosts_count and the feature ids.
	saved, err := a.store.SmartProxy(ctx, p.ID)
	if err != nil {
		return true, err
	}
	*p = saved
	return false, nil
}

func storedFeatures(features []proxies.Feature) []store.Feature {
	out := make([]store.Feature, len(features))
	for i, f := range features {
		out[i] = store.Feature{Name: f.Name, Capabilities: f.Capabilities, Settings: f.Settings}
	}
	return out
}

// discoveryFailed answers 422 with Foreman's discovery messages.
func discoveryFailed(c echo.Context, id any, err error) error {
	var de *proxies.DiscoveryError
	if errors.As(err, &de) {
		return respond.BaseError(c, id, de.Messages...)
	}
	return respond.BaseError(c, id, "Unable to communicate with the proxy: "+err.Error(),
		"Please check the proxy is configured and running on the host.")
}

func (a *API) refreshSmartProxy(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	ctx := c.Request().Context()
	features, err := a.proxies.Features(ctx, p.URL)
	if err != nil {
		return discoveryFailed(c, p.ID, err)
	}
	p.Features = storedFeatures(features)
	if err := a.store.UpdateSmartProxy(ctx, &p); err != nil {
		return saveFailed(c, p.ID, err)
	}
	saved, err := a.store.SmartProxy(ctx, p.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, smartProxyView(saved))
}

func (a *API) destroySmartProxy(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.SmartProxyUsedBy(ctx, p.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, p.ID, p.Name, users)
	}
	if err := a.store.DeleteSmartProxy(ctx, p.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, smartProxyView(p))
}

// proxyCallFailed answers a failed call to a proxy: 422 with the cause, as Foreman's
// ProxyException is shown.
func proxyCallFailed(c echo.Context, p store.SmartProxy, what string, err error) error {
	return respond.BaseError(c, p.ID, fmt.Sprintf("Unable to %s of proxy %s: %v", what, p.Name, err))
}

func (a *API) smartProxyVersion(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	v, err := a.proxies.Version(c.Request().Context(), p.URL)
	if err != nil {
		return proxyCallFailed(c, p, "get the version", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "result": v})
}

func (a *API) smartProxyLogs(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	var from int64
	if raw := c.QueryParam("from_timestamp"); raw != "" {
		if from, err = strconv.ParseInt(raw, 10, 64); err != nil {
			return respond.BadRequest(c, "from_timestamp must be an integer, got "+strconv.Quote(raw))
		}
	}
	logs, err := a.proxies.Logs(c.Request().Context(), p.URL, from)
	if err != nil {
		return proxyCallFailed(c, p, "get the logs", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "result": logs})
}

// importSubnets creates the subnets of the proxy's DHCP server that are not known yet
// (by network address): 201 with them, 204 when there is nothing new.
func (a *API) importSubnets(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	if !p.HasFeature("DHCP") {
		return respond.BaseError(c, p.ID, fmt.Sprintf("Smart proxy %s does not have the DHCP feature", p.Name))
	}
	ctx := c.Request().Context()
	remote, err := a.proxies.DHCPSubnets(ctx, p.URL)
	if err != nil {
		return proxyCallFailed(c, p, "import the subnets", err)
	}
	var created []subnetJSON
	for _, r := range remote {
		if _, err := a.store.SubnetByNetwork(ctx, r.Network); err == nil {
			continue
		}
		n := importedSubnet(r, p.ID)
		if err := a.store.CreateSubnet(ctx, &n); err != nil {
			var conflict *store.ConflictError
			if errors.As(err, &conflict) {
				continue // a subnet of that name exists under another network: leave it
			}
			return err
		}
		view, err := a.subnetView(ctx, n)
		if err != nil {
			return err
		}
		created = append(created, view)
	}
	if len(created) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusCreated, map[string]any{"total": len(created), "subtotal": len(created),
		"page": 1, "per_page": len(created), "search": nil, "sort": map[string]any{"by": nil, "order": nil}, "results": created})
}

func importedSubnet(r proxies.DHCPSubnet, proxyID int64) store.Subnet {
	name := r.Network
	if ones, _ := net.IPMask(net.ParseIP(r.Netmask).To4()).Size(); ones > 0 {
		name = fmt.Sprintf("%s/%d", r.Network, ones)
	}
	return store.Subnet{Name: name, Network: r.Network, Mask: r.Netmask, Gateway: r.Gateway,
		DNSPrimary: r.DNSPrimary, DNSSecondary: r.DNSSecondary, From: r.From, To: r.To,
		BootMode: "DHCP", IPAM: "DHCP", DHCPID: &proxyID}
}

// assignProxyHost is PUT /smart_proxies/:id/hosts/:host_id (foreman-clients.md §3): the
// host runs this proxy. 201 when that is new, 200 when it already did; empty body.
func (a *API) assignProxyHost(c echo.Context) error {
	p, handled, err := a.findSmartProxy(c, "id")
	if handled {
		return err
	}
	h, handled, err := a.findHost(c, "host_id")
	if handled {
		return err
	}
	changed, err := a.store.SetInfrastructureFacet(c.Request().Context(), h.ID, store.InfrastructureFacet{SmartProxyID: &p.ID})
	if err != nil {
		return err
	}
	if changed {
		return c.NoContent(http.StatusCreated)
	}
	return c.NoContent(http.StatusOK)
}
