package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

type domainJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Fullname  string    `json:"fullname"`
	DNSID     *int64    `json:"dns_id"`
	DNSName   *string   `json:"dns_name"`
	SubnetIDs []int64   `json:"subnet_ids,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (a *API) domainView(ctx context.Context, d store.Domain) (domainJSON, error) {
	dnsName, err := nameOf(ctx, d.DNSID, a.store.SmartProxy, func(p store.SmartProxy) string { return p.Name })
	return domainJSON{ID: d.ID, Name: d.Name, Fullname: d.Fullname, DNSID: d.DNSID, DNSName: dnsName,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}, err
}

type domainParams struct {
	Name     *string `json:"name"`
	Fullname *string `json:"fullname"`
	DNSID    optID   `json:"dns_id"`
}

func (a *API) listDomains(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	ctx := c.Request().Context()
	counts, list, err := a.store.ListDomains(ctx, opts)
	views := make([]domainJSON, len(list))
	for i, d := range list {
		if views[i], err = a.domainView(ctx, d); err != nil {
			break
		}
	}
	return respond.Listed(c, idx, counts, views, err)
}

func (a *API) findDomain(c echo.Context) (store.Domain, bool, error) {
	id, name := idParam(c, "id")
	ctx := c.Request().Context()
	var d store.Domain
	var err error
	if name != "" {
		d, err = a.store.DomainByName(ctx, name)
	} else {
		d, err = a.store.Domain(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return d, true, respond.NotFound(c, "domain", respond.Param(c, "id"))
	}
	return d, err != nil, err
}

func (a *API) showDomain(c echo.Context) error {
	d, handled, err := a.findDomain(c)
	if handled {
		return err
	}
	view, err := a.domainView(c.Request().Context(), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createDomain(c echo.Context) error {
	return a.saveDomain(c, store.Domain{}, http.StatusCreated)
}

func (a *API) updateDomain(c echo.Context) error {
	d, handled, err := a.findDomain(c)
	if handled {
		return err
	}
	return a.saveDomain(c, d, http.StatusOK)
}

// domainName is a DNS name: labels of letters, digits and hyphens.
var domainName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

func (a *API) saveDomain(c echo.Context, d store.Domain, status int) error {
	var in domainParams
	if handled, err := respond.DecodeBody(c, &in, "domain"); handled {
		return err
	}
	setString(&d.Name, in.Name)
	setString(&d.Fullname, in.Fullname)
	in.DNSID.apply(&d.DNSID)
	ctx := c.Request().Context()
	v := &respond.Errors{}
	switch {
	case d.Name == "":
		v.Add("name", "can't be blank")
	case !domainName.MatchString(d.Name):
		v.Add("name", "is invalid")
	}
	if err := a.checkProxy(ctx, v, "dns_id", d.DNSID, "DNS"); err != nil {
		return err
	}
	id := recordID(d.ID)
	if v.Any() {
		return respond.Unprocessable(c, id, v)
	}
	var err error
	if d.ID == 0 {
		err = a.store.CreateDomain(ctx, &d)
	} else {
		err = a.store.UpdateDomain(ctx, &d)
	}
	if err != nil {
		return saveFailed(c, id, err)
	}
	view, err := a.domainView(ctx, d)
	if err != nil {
		return err
	}
	return c.JSON(status, view)
}

func (a *API) destroyDomain(c echo.Context) error {
	d, handled, err := a.findDomain(c)
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.DomainUsedBy(ctx, d.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, d.ID, d.Name, users)
	}
	if err := a.store.DeleteDomain(ctx, d.ID); err != nil {
		return err
	}
	view, err := a.domainView(ctx, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// recordID is the "id" of a 422: the record's id, or null for a new record.
func recordID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
