package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// factsFeature is the proxy feature whose holders may upload facts without a login
// (Foreman's fact importers: Puppet; plugins add others).
const factsFeature = "Puppet"

// uploadFacts is POST /api/v2/hosts/facts (and /api/hosts/facts): {"name", "certname",
// "facts":{...}} from Puppet's ENC script or the installer's foreman_host. The host is
// found by certname, then name, and created when unknown (Foreman's
// create_new_host_when_facts_are_uploaded, default on). The facts are stored as sent;
// parsing them into the host (IP, MAC, OS) is issue 12. 201 with the host.
func (a *API) uploadFacts(c echo.Context) error {
	var in struct {
		Name     string          `json:"name"`
		Certname string          `json:"certname"`
		Facts    json.RawMessage `json:"facts"`
	}
	if handled, err := decodeBody(c, "", &in); handled {
		return err
	}
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(in.Name)), ".")
	certname := strings.TrimSpace(in.Certname)
	v := &invalid{}
	switch {
	case name == "":
		v.add("name", "can't be blank")
	case !hostName.MatchString(name):
		v.add("name", "is invalid")
	}
	if f := bytes.TrimSpace(in.Facts); len(f) == 0 || f[0] != '{' {
		v.add("facts", "must be a JSON object")
	}
	if v.any() {
		return unprocessable(c, nil, v)
	}
	ctx := c.Request().Context()
	h, err := a.hostForFacts(c, name, certname)
	if err != nil {
		return err
	}
	if err := a.store.SaveFacts(ctx, h.ID, in.Facts); err != nil {
		return err
	}
	return a.answerHost(c, h.ID, http.StatusCreated)
}

func (a *API) hostForFacts(c echo.Context, name, certname string) (store.Host, error) {
	ctx := c.Request().Context()
	if certname != "" {
		if h, err := a.store.HostByCertname(ctx, certname); !errors.Is(err, store.ErrNotFound) {
			return h, err
		}
	}
	h, err := a.store.HostByName(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return h, err
	}
	h = store.Host{Name: name}
	if certname != "" && certname != name {
		h.Certname = certname
	}
	err = a.store.CreateHost(ctx, &h)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) { // created meanwhile by a concurrent upload
		return a.store.HostByName(ctx, name)
	}
	return h, err
}
