package puppet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// hostName is what a fact upload or report may name: an FQDN-like name.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$`)

// uploadFacts is POST /api/v2/hosts/facts (and /api/hosts/facts): {"name", "certname",
// "facts": {...}} from the ENC script or the installer's foreman_host. The host is found
// by certname, then name, and created when unknown if create_new_host_when_facts_are_uploaded
// (then with the IP and MAC the facts name). Facts are stored as sent, replacing the
// last upload. 201 with the host; 422 {"message"} for what Foreman refuses to import.
func (s *Service) uploadFacts(c echo.Context) error {
	data, handled, err := respond.ReadBody(c)
	if handled {
		return err
	}
	var in struct {
		Name     *string         `json:"name"`
		Certname string          `json:"certname"`
		Facts    json.RawMessage `json:"facts"`
	}
	if handled, err := respond.DecodeJSON(c, data, &in); handled {
		return err
	}
	if in.Name == nil {
		return message(c, http.StatusUnprocessableEntity, "Invalid Hostname, must be a String")
	}
	name := normaliseName(*in.Name)
	certname := strings.ToLower(strings.TrimSpace(in.Certname))
	if !hostName.MatchString(name) {
		return message(c, http.StatusUnprocessableEntity, "Invalid Hostname %q", *in.Name)
	}
	var facts map[string]any
	if f := bytes.TrimSpace(in.Facts); len(f) == 0 || f[0] != '{' || json.Unmarshal(f, &facts) != nil {
		return message(c, http.StatusUnprocessableEntity, "Invalid facts: must be a JSON object")
	}
	h, found, err := s.lookupHost(c, name, certname)
	if err != nil {
		return err
	}
	if !found {
		if !s.opts.CreateHostsFromFacts {
			return message(c, http.StatusUnprocessableEntity,
				"Host %s not found and create_new_host_when_facts_are_uploaded is off", name)
		}
		h = store.Host{Name: name, IP: factIP(facts), MAC: factMAC(facts)}
		if certname != name {
			h.Certname = certname
		}
		if h, err = s.createHost(c, h); errors.Is(err, errNameBusy) {
			return nameBusy(c, name)
		} else if err != nil {
			return err
		}
	}
	if h.Build {
		return message(c, http.StatusUnprocessableEntity, "Host is pending for Build")
	}
	return s.storeOnce(c, func(w store.KeyedWrite) (int, any, error) {
		return http.StatusCreated, hostView(h), w.SaveFacts(h.ID, in.Facts)
	})
}

// hostFacts is GET /api/v2/hosts/:host_id/facts: Foreman's layout, the facts under
// the host's name (nested as uploaded).
func (s *Service) hostFacts(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	facts, at, err := s.store.Facts(c.Request().Context(), h.ID)
	results := map[string]any{}
	total := 0
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		var values map[string]any
		if err := json.Unmarshal(facts, &values); err != nil {
			return err
		}
		results[h.Name] = values
		total = len(values)
	}
	out := map[string]any{"total": total, "subtotal": total, "page": 1, "per_page": total, "search": nil,
		"sort": map[string]any{"by": nil, "order": nil}, "results": results}
	if !at.IsZero() {
		out["uploaded_at"] = at.UTC().Format(time.RFC3339)
	}
	return c.JSON(http.StatusOK, out)
}

// lookupHost finds a host by certname, then by name.
func (s *Service) lookupHost(c echo.Context, name, certname string) (store.Host, bool, error) {
	ctx := c.Request().Context()
	if certname != "" {
		h, err := s.store.HostByCertname(ctx, certname)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return h, err == nil, err
		}
	}
	h, err := s.store.HostByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return h, false, nil
	}
	return h, err == nil, err
}

// DefaultNameWait is how long a fact upload or report waits for a host name an API
// create holds while it talks to the proxies: a create with DNS, DHCP and TFTP takes
// well under a second when the proxies answer, and Puppet's clients wait 60 s.
const DefaultNameWait = 10 * time.Second

// nameRetry is the pause between two attempts to take a held name.
const nameRetry = 50 * time.Millisecond

// errNameBusy is a host name still held by another request after the wait.
var errNameBusy = errors.New("host name held by another request")

// createHost stores a host a fact upload or report named. It takes the host name
// reservation an API create holds during its orchestration (core/orchestrate), so an
// upload never saves a name such a create is about to save, which would make the
// create fail after its DNS and DHCP records were written. While the name is held it
// waits (opts.NameWait) for the holder to finish: the host it saved is then used; a
// concurrent upload that created it first wins the same way.
func (s *Service) createHost(c echo.Context, h store.Host) (store.Host, error) {
	ctx := c.Request().Context()
	wait := s.opts.NameWait
	if wait <= 0 {
		wait = DefaultNameWait
	}
	deadline := time.Now().Add(wait)
	for {
		release, err := s.store.ReserveHostName(ctx, h.Name, store.HostNameReservationStale)
		var held *store.ConflictError
		switch {
		case err == nil:
			return s.createReserved(ctx, h, release)
		case !errors.As(err, &held):
			return h, err
		}
		// The holder may have saved the host already and not yet released the name.
		if saved, err := s.store.HostByName(ctx, h.Name); err == nil || !errors.Is(err, store.ErrNotFound) {
			return saved, err
		}
		if time.Now().After(deadline) {
			return h, errNameBusy
		}
		select {
		case <-ctx.Done():
			return h, ctx.Err()
		case <-time.After(nameRetry):
		}
	}
}

// createReserved saves h while this request holds its name.
func (s *Service) createReserved(ctx context.Context, h store.Host, release func() error) (store.Host, error) {
	defer func() {
		if err := release(); err != nil {
			s.log.WithField("host", h.Name).Errorf("releasing the name reservation: %v", err)
		}
	}()
	err := s.store.CreateHost(ctx, &h)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) { // stored between the lookup and the reservation
		return s.store.HostByName(ctx, h.Name)
	}
	return h, err
}

// nameBusy answers an upload whose host name another request held past the wait,
// as Foreman answers what it cannot import: 422 {"message"}. Puppet's report
// processor retries it (report_retry_limit); the ENC logs it and goes on.
func nameBusy(c echo.Context, name string) error {
	return message(c, http.StatusUnprocessableEntity,
		"Name has already been taken: host %s is being created by another request, try again", name)
}

func normaliseName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// factIP and factMAC read the primary address from Facter's legacy or structured facts.
func factIP(facts map[string]any) string {
	for _, v := range []any{facts["ipaddress"], nested(facts, "networking", "ip")} {
		if s, ok := v.(string); ok && net.ParseIP(s) != nil {
			return s
		}
	}
	return ""
}

func factMAC(facts map[string]any) string {
	for _, v := range []any{facts["macaddress"], nested(facts, "networking", "mac")} {
		if s, ok := v.(string); ok {
			if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 {
				return hw.String()
			}
		}
	}
	return ""
}

func nested(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// hostView is the host as the facts upload answers it (the fields Foreman's clients read).
func hostView(h store.Host) map[string]any {
	var certname any
	if h.Certname != "" {
		certname = h.Certname
	} else {
		certname = h.Name
	}
	return map[string]any{"id": h.ID, "name": h.Name, "certname": certname, "ip": nilIfEmpty(h.IP),
		"mac": nilIfEmpty(h.MAC), "build": h.Build, "domain_id": h.DomainID, "subnet_id": h.SubnetID,
		"operatingsystem_id": h.OperatingSystemID, "created_at": h.CreatedAt, "updated_at": h.UpdatedAt}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
