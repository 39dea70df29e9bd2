package puppet

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// parameterScope is one level of inherited parameters and where its API lives:
// /common_parameters for the global level, /<owners>/:owner_id/parameters for the rest
// (Foreman's routes).
type parameterScope struct {
	scope    store.ParameterScope
	path     string // "/common_parameters" or "/domains/:domain_id/parameters"
	ownerArg string // path parameter naming the owner; "" for global
	resource string // in 404 messages
	wrapper  string // the JSON object the attributes come in
}

var parameterScopes = []parameterScope{
	{store.CommonScope, "/common_parameters", "", "common_parameter", "common_parameter"},
	{store.DomainScope, "/domains/:domain_id/parameters", "domain_id", "domain", "parameter"},
	{store.SubnetScope, "/subnets/:subnet_id/parameters", "subnet_id", "subnet", "parameter"},
	{store.OperatingSystemScope, "/operatingsystems/:operatingsystem_id/parameters", "operatingsystem_id", "operatingsystem", "parameter"},
	{store.HostScope, "/hosts/:host_id/parameters", "host_id", "host", "parameter"},
}

func (s *Service) mountParameters(g *echo.Group, ps parameterScope, user echo.MiddlewareFunc) {
	g.GET(ps.path, func(c echo.Context) error { return s.listParameters(c, ps) }, user)
	g.POST(ps.path, func(c echo.Context) error { return s.createParameter(c, ps) }, user)
	g.GET(ps.path+"/:id", func(c echo.Context) error { return s.showParameter(c, ps) }, user)
	g.PUT(ps.path+"/:id", func(c echo.Context) error { return s.updateParameter(c, ps) }, user)
	g.DELETE(ps.path+"/:id", func(c echo.Context) error { return s.destroyParameter(c, ps) }, user)
}

// owner resolves the owner in the path (a number, or a name for hosts and domains);
// answered with 404 when it does not exist.
func (s *Service) owner(c echo.Context, ps parameterScope) (id int64, handled bool, err error) {
	if ps.ownerArg == "" {
		return 0, false, nil
	}
	if ps.scope == store.HostScope {
		h, handled, err := s.findHost(c, ps.ownerArg)
		return h.ID, handled, err
	}
	raw := respond.Param(c, ps.ownerArg)
	ctx := c.Request().Context()
	id, ok := respond.NumericID(raw)
	switch {
	case !ok && ps.scope == store.DomainScope:
		var d store.Domain
		if d, err = s.store.DomainByName(ctx, strings.ToLower(raw)); err == nil {
			id = d.ID
		}
	case !ok:
		err = store.ErrNotFound
	case ps.scope == store.DomainScope:
		_, err = s.store.Domain(ctx, id)
	case ps.scope == store.SubnetScope:
		_, err = s.store.Subnet(ctx, id)
	default:
		_, err = s.store.OperatingSystem(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, true, respond.NotFound(c, ps.resource, raw)
	}
	return id, err != nil, err
}

// parameterView is Foreman's parameter JSON (values are strings here).
func parameterView(p store.Parameter) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "value": p.Value, "parameter_type": "string"}
}

func (s *Service) listParameters(c echo.Context, ps parameterScope) error {
	owner, handled, err := s.owner(c, ps)
	if handled {
		return err
	}
	list, err := s.store.Parameters(c.Request().Context(), ps.scope, owner)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(list))
	for i, p := range list {
		out[i] = parameterView(p)
	}
	return c.JSON(http.StatusOK, respond.Index{Total: len(out), Subtotal: len(out), Page: 1, PerPage: max(len(out), 20),
		Sort: map[string]*string{"by": nil, "order": nil}, Results: out})
}

// parameterByID loads :id of the owner; 404 when the owner has no such parameter.
func (s *Service) parameterByID(c echo.Context, ps parameterScope, owner int64) (store.Parameter, bool, error) {
	raw := respond.Param(c, "id")
	id, ok := respond.NumericID(raw)
	var p store.Parameter
	err := store.ErrNotFound
	if ok {
		p, err = s.store.ScopedParameter(c.Request().Context(), ps.scope, owner, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return p, true, respond.NotFound(c, "parameter", raw)
	}
	return p, err != nil, err
}

func (s *Service) showParameter(c echo.Context, ps parameterScope) error {
	owner, handled, err := s.owner(c, ps)
	if handled {
		return err
	}
	p, handled, err := s.parameterByID(c, ps, owner)
	if handled {
		return err
	}
	return c.JSON(http.StatusOK, parameterView(p))
}

type parameterIn struct {
	Name  *string `json:"name"`
	Value *any    `json:"value"`
}

// apply validates the attributes onto p; a 422 is answered when they are wrong.
func (in parameterIn) apply(c echo.Context, p *store.Parameter) (handled bool, err error) {
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
	}
	if in.Value != nil {
		p.Value = valueString(*in.Value)
	}
	var id any
	if p.ID != 0 {
		id = p.ID
	}
	switch {
	case p.Name == "":
		return true, respond.FieldError(c, id, "name", "can't be blank")
	case strings.ContainsAny(p.Name, " \t\n"):
		return true, respond.FieldError(c, id, "name", "can't contain spaces")
	}
	return false, nil
}

// valueString stores a JSON value as Foreman's string parameter value: strings as they
// are, anything else as its JSON text.
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	data, _ := jsonMarshal(v)
	return string(data)
}

// readParameter applies the request's parameter body to p; handled is true when an
// error answer has been written.
func readParameter(c echo.Context, ps parameterScope, p *store.Parameter) (handled bool, err error) {
	data, handled, err := respond.ReadBody(c)
	if handled {
		return true, err
	}
	var in parameterIn
	if handled, err := respond.DecodeJSON(c, data, &in, ps.wrapper, "parameter"); handled {
		return true, err
	}
	return in.apply(c, p)
}

func (s *Service) createParameter(c echo.Context, ps parameterScope) error {
	owner, handled, err := s.owner(c, ps)
	if handled {
		return err
	}
	var p store.Parameter
	if handled, err := readParameter(c, ps, &p); handled {
		return err
	}
	if err := s.store.CreateParameter(c.Request().Context(), ps.scope, owner, &p); err != nil {
		return respond.SaveFailed(c, nil, err)
	}
	return c.JSON(http.StatusCreated, parameterView(p))
}

func (s *Service) updateParameter(c echo.Context, ps parameterScope) error {
	owner, handled, err := s.owner(c, ps)
	if handled {
		return err
	}
	p, handled, err := s.parameterByID(c, ps, owner)
	if handled {
		return err
	}
	if handled, err := readParameter(c, ps, &p); handled {
		return err
	}
	if err := s.store.UpdateParameter(c.Request().Context(), ps.scope, owner, p); err != nil {
		return respond.SaveFailed(c, p.ID, err)
	}
	return c.JSON(http.StatusOK, parameterView(p))
}

func (s *Service) destroyParameter(c echo.Context, ps parameterScope) error {
	owner, handled, err := s.owner(c, ps)
	if handled {
		return err
	}
	p, handled, err := s.parameterByID(c, ps, owner)
	if handled {
		return err
	}
	if err := s.store.DeleteParameter(c.Request().Context(), ps.scope, owner, p.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, parameterView(p))
}
