package puppet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// className is Puppet's class name rule: lower-case segments joined by "::".
var className = regexp.MustCompile(`^[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*$`)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func classView(pc store.PuppetClass) map[string]any {
	return map[string]any{"id": pc.ID, "name": pc.Name, "created_at": pc.CreatedAt.UTC(), "updated_at": pc.UpdatedAt.UTC()}
}

func hostClassView(hc store.HostClass) map[string]any {
	v := classView(hc.PuppetClass)
	v["parameters"] = json.RawMessage(hc.Parameters)
	return v
}

// listClasses is GET /api/v2/puppetclasses (search name=, id=).
func (s *Service) listClasses(c echo.Context) error {
	opts, idx, err := respond.ListOptions(c)
	if err != nil {
		return respond.SearchFailed(c, err)
	}
	counts, list, err := s.store.ListPuppetClasses(c.Request().Context(), opts)
	out := make([]map[string]any, len(list))
	for i, pc := range list {
		out[i] = classView(pc)
	}
	return respond.Listed(c, idx, counts, out, err)
}

// classByParam loads the class :id names (id or name); 404 when unknown.
func (s *Service) classByParam(c echo.Context, name string) (store.PuppetClass, bool, error) {
	raw := respond.Param(c, name)
	ctx := c.Request().Context()
	var pc store.PuppetClass
	var err error
	if id, ok := respond.NumericID(raw); ok {
		pc, err = s.store.PuppetClass(ctx, id)
	} else {
		pc, err = s.store.PuppetClassByName(ctx, raw)
	}
	if errors.Is(err, store.ErrNotFound) {
		return pc, true, respond.NotFound(c, "puppetclass", raw)
	}
	return pc, err != nil, err
}

func (s *Service) showClass(c echo.Context) error {
	pc, handled, err := s.classByParam(c, "id")
	if handled {
		return err
	}
	return c.JSON(http.StatusOK, classView(pc))
}

// createClass is POST /api/v2/puppetclasses {"puppetclass": {"name": "motd"}}.
func (s *Service) createClass(c echo.Context) error {
	data, handled, err := respond.ReadBody(c)
	if handled {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if handled, err := respond.DecodeJSON(c, data, &in, "puppetclass"); handled {
		return err
	}
	pc := store.PuppetClass{Name: strings.TrimSpace(in.Name)}
	switch {
	case pc.Name == "":
		return respond.FieldError(c, nil, "name", "can't be blank")
	case !className.MatchString(pc.Name):
		return respond.FieldError(c, nil, "name", "is not a Puppet class name")
	}
	if err := s.store.CreatePuppetClass(c.Request().Context(), &pc); err != nil {
		return respond.SaveFailed(c, nil, err)
	}
	return c.JSON(http.StatusCreated, classView(pc))
}

// destroyClass deletes a class no host has; 422 naming the hosts otherwise.
func (s *Service) destroyClass(c echo.Context) error {
	pc, handled, err := s.classByParam(c, "id")
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := s.store.PuppetClassUsers(ctx, pc.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return respond.FieldError(c, pc.ID, "base", fmt.Sprintf("%s is used by %s", pc.Name, strings.Join(users, ", ")))
	}
	if err := s.store.DeletePuppetClass(ctx, pc.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, classView(pc))
}

// hostClasses is GET /api/v2/hosts/:host_id/puppetclasses.
func (s *Service) hostClasses(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	list, err := s.store.HostClasses(c.Request().Context(), h.ID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(list))
	for i, hc := range list {
		out[i] = hostClassView(hc)
	}
	return c.JSON(http.StatusOK, respond.Index{Total: len(out), Subtotal: len(out), Page: 1, PerPage: max(len(out), 20),
		Sort: map[string]*string{"by": nil, "order": nil}, Results: out})
}

// addHostClass is Foreman's POST /api/v2/hosts/:host_id/puppetclass_ids {"puppetclass_id": N}.
func (s *Service) addHostClass(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	data, handled, err := respond.ReadBody(c)
	if handled {
		return err
	}
	var in struct {
		ID json.Number `json:"puppetclass_id"`
	}
	if handled, err := respond.DecodeJSON(c, data, &in); handled {
		return err
	}
	ctx := c.Request().Context()
	id, ok := respond.NumericID(in.ID.String())
	if !ok {
		return respond.FieldError(c, h.ID, "puppetclass_id", "can't be blank")
	}
	pc, err := s.store.PuppetClass(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "puppetclass", in.ID.String())
	}
	if err != nil {
		return err
	}
	if err := s.store.AddHostClass(ctx, h.ID, store.HostClass{PuppetClass: pc}); err != nil {
		return respond.SaveFailed(c, h.ID, err)
	}
	return c.JSON(http.StatusCreated, map[string]any{"host_id": h.ID, "puppetclass_id": pc.ID})
}

// removeHostClass is DELETE /api/v2/hosts/:host_id/puppetclass_ids/:id.
func (s *Service) removeHostClass(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	pc, handled, err := s.classByParam(c, "id")
	if handled {
		return err
	}
	err = s.store.RemoveHostClass(c.Request().Context(), h.ID, pc.ID)
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "host_puppetclass", respond.Param(c, "id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"host_id": h.ID, "puppetclass_id": pc.ID})
}

// puppetView is the Puppet side of a host: environment and classes with their values.
func (s *Service) puppetView(c echo.Context, h store.Host) error {
	ctx := c.Request().Context()
	env, err := s.store.HostEnvironment(ctx, h.ID)
	if err != nil {
		return err
	}
	if env == "" {
		env = defaultEnvironment
	}
	list, err := s.store.HostClasses(ctx, h.ID)
	if err != nil {
		return err
	}
	ids := []int64{}
	classes := map[string]json.RawMessage{}
	for _, hc := range list {
		ids = append(ids, hc.ID)
		classes[hc.Name] = hc.Parameters
	}
	return c.JSON(http.StatusOK, map[string]any{"host_id": h.ID, "environment": env, "puppetclass_ids": ids, "puppet_classes": classes})
}

// showHostPuppet is GET /api/v2/hosts/:host_id/puppet.
func (s *Service) showHostPuppet(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	return s.puppetView(c, h)
}

// updateHostPuppet is PUT /api/v2/hosts/:host_id/puppet {"environment", "puppetclass_ids",
// "puppet_classes"}: environment sets it; either class list replaces the host's classes
// (both given: their union). puppet_classes is a list of names or an object
// {name: {parameter: value} | null}; unknown names become classes.
func (s *Service) updateHostPuppet(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	data, handled, err := respond.ReadBody(c)
	if handled {
		return err
	}
	var in struct {
		Environment    *string         `json:"environment"`
		PuppetclassIDs *[]json.Number  `json:"puppetclass_ids"`
		PuppetClasses  json.RawMessage `json:"puppet_classes"`
	}
	if handled, err := respond.DecodeJSON(c, data, &in, "puppet", "host"); handled {
		return err
	}
	byName, handled, err := readClassValues(c, h.ID, in.PuppetClasses)
	if handled {
		return err
	}
	if in.Environment != nil && !className.MatchString(strings.TrimSpace(*in.Environment)) {
		return respond.FieldError(c, h.ID, "environment", "is not a Puppet environment name")
	}
	ctx := c.Request().Context()
	var classes []store.HostClass
	seen := map[int64]bool{}
	if in.PuppetclassIDs != nil {
		for _, raw := range *in.PuppetclassIDs {
			id, ok := respond.NumericID(raw.String())
			pc, err := s.store.PuppetClass(ctx, id)
			if !ok || errors.Is(err, store.ErrNotFound) {
				return respond.FieldError(c, h.ID, "puppetclass_ids", fmt.Sprintf("%s is not a Puppet class", raw))
			}
			if err != nil {
				return err
			}
			seen[pc.ID] = true
			classes = append(classes, store.HostClass{PuppetClass: pc})
		}
	}
	for _, name := range sortedKeys(byName) {
		pc, err := s.store.EnsurePuppetClass(ctx, name)
		if err != nil {
			return err
		}
		hc := store.HostClass{PuppetClass: pc, Parameters: byName[name]}
		if seen[pc.ID] {
			for i := range classes {
				if classes[i].ID == pc.ID {
					classes[i] = hc
				}
			}
			continue
		}
		classes = append(classes, hc)
	}
	if in.Environment != nil {
		if err := s.store.SetHostEnvironment(ctx, h.ID, strings.TrimSpace(*in.Environment)); err != nil {
			return err
		}
	}
	if in.PuppetclassIDs != nil || byName != nil {
		if err := s.store.SetHostClasses(ctx, h.ID, classes); err != nil {
			return err
		}
	}
	return s.puppetView(c, h)
}

// readClassValues reads puppet_classes: ["a", "b"] or {"a": {...}, "b": null}; nil when absent.
func readClassValues(c echo.Context, hostID int64, raw json.RawMessage) (map[string]json.RawMessage, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	out := map[string]json.RawMessage{}
	var names []string
	var values map[string]json.RawMessage
	switch {
	case json.Unmarshal(raw, &names) == nil:
		for _, n := range names {
			out[strings.TrimSpace(n)] = nil
		}
	case json.Unmarshal(raw, &values) == nil:
		for n, v := range values {
			v = bytes.TrimSpace(v)
			if string(v) != "null" && (len(v) == 0 || v[0] != '{') {
				return nil, true, respond.FieldError(c, hostID, "puppet_classes", fmt.Sprintf("%s: class parameters must be an object or null", n))
			}
			out[strings.TrimSpace(n)] = v
		}
	default:
		return nil, true, respond.FieldError(c, hostID, "puppet_classes", "must be a list of class names or an object of class parameters")
	}
	for n := range out {
		if !className.MatchString(n) {
			return nil, true, respond.FieldError(c, hostID, "puppet_classes", fmt.Sprintf("%q is not a Puppet class name", n))
		}
	}
	return out, false, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func sortStrings(s []string) { sort.Strings(s) }
