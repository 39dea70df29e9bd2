package puppet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// nodeName is foreman_puppet's route constraint on /node/:name.
var nodeName = regexp.MustCompile(`^[^.][\w.-]+$`)

// defaultEnvironment is the environment of a host none was set on.
const defaultEnvironment = "production"

// node is GET /node/<certname>?format=yml, the call of Puppet's ENC script: the host
// found by certname, then by name; 404 when unknown; exactly 200 with the YAML (the
// script accepts nothing else); 412 when the answer cannot be built.
func (s *Service) node(c echo.Context) error {
	name := respond.Param(c, "name")
	if !nodeName.MatchString(name) {
		return c.String(http.StatusNotFound, "Not Found")
	}
	ctx := c.Request().Context()
	h, err := s.store.HostByCertname(ctx, strings.ToLower(name))
	if errors.Is(err, store.ErrNotFound) {
		h, err = s.store.HostByName(ctx, strings.ToLower(name))
	}
	if errors.Is(err, store.ErrNotFound) {
		return c.String(http.StatusNotFound, fmt.Sprintf("Host %s not found", name))
	}
	var out []byte
	if err == nil {
		out, err = s.nodeYAML(ctx, h)
	}
	if err != nil {
		s.log.WithError(err).Errorf("ENC for %s", name)
		return c.String(http.StatusPreconditionFailed, "Unable to generate output, Check log files")
	}
	if c.QueryParam("format") == "yml" {
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", out)
	}
	return c.HTML(http.StatusOK, "<pre>"+html.EscapeString(string(out))+"</pre>")
}

// hostENC is GET /api/v2/hosts/:host_id/enc: the same answer as JSON {"data": ...}.
func (s *Service) hostENC(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	info, err := s.nodeInfo(c.Request().Context(), h)
	if err != nil {
		s.log.WithError(err).Errorf("ENC for %s", h.Name)
		return c.JSON(http.StatusPreconditionFailed, map[string]any{"message": "Unable to generate output, Check log files"})
	}
	return c.JSON(http.StatusOK, map[string]any{"data": info})
}

// nodeYAML is Foreman's host.info.to_yaml: a document starting "---".
func (s *Service) nodeYAML(ctx context.Context, h store.Host) ([]byte, error) {
	info, err := s.nodeInfo(ctx, h)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("---\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(info); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// nodeInfo is the classification of h: Foreman's static parameters (foreman_*,
// domainname, ...), every parameter h inherits (global → domain → subnet → OS → host,
// the later winning), its classes with their parameter values, and its environment.
func (s *Service) nodeInfo(ctx context.Context, h store.Host) (map[string]any, error) {
	params := map[string]any{
		"foreman_hostname": strings.SplitN(h.Name, ".", 2)[0],
		"foreman_fqdn":     h.Name,
	}
	iface := map[string]any{"ip": h.IP, "mac": h.MAC, "name": h.Name, "identifier": "", "managed": true,
		"primary": true, "provision": true, "type": "Interface", "virtual": false, "attrs": map[string]any{}}
	if h.DomainID != nil {
		d, err := s.store.Domain(ctx, *h.DomainID)
		if err != nil {
			return nil, fmt.Errorf("domain %d: %w", *h.DomainID, err)
		}
		params["domainname"] = d.Name
		params["foreman_domain_description"] = d.Fullname
	}
	params["foreman_subnets"] = []any{}
	if h.SubnetID != nil {
		n, err := s.store.Subnet(ctx, *h.SubnetID)
		if err != nil {
			return nil, fmt.Errorf("subnet %d: %w", *h.SubnetID, err)
		}
		export := map[string]any{"name": n.Name, "network": n.Network, "mask": n.Mask, "gateway": n.Gateway,
			"dns_primary": n.DNSPrimary, "dns_secondary": n.DNSSecondary, "from": n.From, "to": n.To,
			"boot_mode": n.BootMode, "ipam": n.IPAM, "network_type": "IPv4"}
		params["foreman_subnets"] = []any{export}
		iface["subnet"] = export
	}
	params["foreman_interfaces"] = []any{iface}
	env, err := s.store.HostEnvironment(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	if env == "" {
		env = defaultEnvironment
	}
	params["foreman_env"] = env
	inherited, err := s.store.InheritedParameters(ctx, h)
	if err != nil {
		return nil, err
	}
	for _, p := range inherited {
		params[p.Name] = p.Value
	}
	hostClasses, err := s.store.HostClasses(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	classes := map[string]any{}
	for _, hc := range hostClasses {
		var values map[string]any
		if err := json.Unmarshal(hc.Parameters, &values); err != nil {
			return nil, fmt.Errorf("parameters of class %s on %s: %w", hc.Name, h.Name, err)
		}
		if len(values) == 0 {
			classes[hc.Name] = nil // Foreman's "class without overridden parameters"
		} else {
			classes[hc.Name] = values
		}
	}
	info := map[string]any{"parameters": params, "classes": classes}
	if s.opts.EncEnvironment {
		info["environment"] = env
	}
	return info, nil
}
