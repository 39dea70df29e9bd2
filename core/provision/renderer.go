package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/smartproxy/smartproxy/core/store"
)

// PXE kinds the TFTP proxy stores configs for, as Foreman names them.
const (
	KindPXELinux = "PXELinux"
	KindPXEGrub2 = "PXEGrub2"
	KindIPXE     = "iPXE"
)

// Renderer renders the provisioning templates of hosts.
type Renderer struct {
	store         *store.Store
	templates     *templates
	unattendedURL string
	now           func() time.Time
}

// NewRenderer parses the shipped templates. templatesDir ("" = none) holds the admin's
// copies; unattendedURL is the base of foreman_url when neither the request (a relay's
// url) nor the host's subnet (its Templates proxy) gives one.
func NewRenderer(st *store.Store, templatesDir, unattendedURL string) (*Renderer, error) {
	t, err := newTemplates(templatesDir)
	if err != nil {
		return nil, err
	}
	return &Renderer{store: st, templates: t, unattendedURL: unattendedURL, now: time.Now}, nil
}

// RenderError is a template that exists but failed to render.
type RenderError struct {
	Name string
	Err  error
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("There was an error rendering the %s template: %v", e.Name, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// PXEConfig renders the PXE config of kind (KindPXELinux, KindPXEGrub2, KindIPXE) the
// TFTP proxy serves the host: the installer while h.Build, else the local-boot one.
// ErrNoTemplate for other kinds (Foreman skips those). Call it with a saved host (h.ID
// set): only then is the build token in the URLs it contains.
func (r *Renderer) PXEConfig(ctx context.Context, h store.Host, kind string) (string, error) {
	name, ok := pxeTemplate(kind, h.Build)
	if !ok {
		return "", ErrNoTemplate
	}
	return r.renderHost(ctx, h, name, renderContext{kind: kind})
}

// pxeTemplate names the template of a PXE kind for a host in or out of build.
func pxeTemplate(kind string, build bool) (string, bool) {
	var name string
	switch kind {
	case KindPXELinux:
		name = "pxelinux"
	case KindPXEGrub2:
		name = "pxegrub2"
	case KindIPXE, "gPXE":
		name = "ipxe"
	default:
		return "", false
	}
	if !build {
		name += "_local"
	}
	return name, true
}

// hostTemplate names the template of a kind the host asks /unattended/KIND for.
func hostTemplate(kind string, os OSVars, build bool) (string, bool) {
	if name, ok := pxeTemplate(kind, build); ok {
		return name, true
	}
	switch {
	case kind == "provision" && family(os.Family) == familyRedhat:
		return "kickstart", true
	case kind == "provision" && family(os.Family) == familyDebian:
		return "preseed", true
	case kind == "finish":
		return "finish", true
	case kind == "user_data" || kind == "cloud-init":
		return "cloud_init", true
	}
	return "", false
}

// renderContext is what a request adds to a render.
type renderContext struct {
	kind   string
	base   string // the relay's url param, "" when none
	static bool   // ?static= was given
	// requestBase is the core's own URL as the request reached it: the last resort
	// for foreman_url.
	requestBase string
	// tokenLoaded: v.Token is already the host's build token (PXEConfigs loads it
	// once for every kind).
	tokenLoaded bool
}

// renderHost renders the template name for host h.
func (r *Renderer) renderHost(ctx context.Context, h store.Host, name string, rc renderContext) (string, error) {
	v, err := loadVars(ctx, r.store, h)
	if err != nil {
		return "", err
	}
	return r.render(ctx, &v, h, name, rc)
}

func (r *Renderer) render(ctx context.Context, v *Vars, h store.Host, name string, rc renderContext) (string, error) {
	t, err := r.templates.find(name)
	if err != nil {
		return "", err
	}
	v.Kind, v.Template = rc.kind, name
	v.Static = v.Static || rc.static
	if !rc.tokenLoaded {
		if v.Token, err = r.buildToken(ctx, h); err != nil {
			return "", err
		}
	}
	base, err := r.baseURL(ctx, h, rc)
	if err != nil {
		return "", err
	}
	t, err = t.Clone()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := t.Funcs(funcs(v, base)).Execute(&out, v); err != nil {
		return "", &RenderError{Name: name, Err: err}
	}
	return out.String(), nil
}

// buildToken is the token of a host in build ("" when it has none).
func (r *Renderer) buildToken(ctx context.Context, h store.Host) (string, error) {
	if !h.Build || h.ID == 0 {
		return "", nil
	}
	tok, err := r.store.BuildToken(ctx, h.ID)
	switch {
	case err == nil:
		return tok.Value, nil
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	}
	return "", err
}

// baseURL is where foreman_url points: the relay's url, else the host's subnet's
// Templates proxy (its template_url, else its URL), else unattended_url, else the
// core as the request reached it.
func (r *Renderer) baseURL(ctx context.Context, h store.Host, rc renderContext) (string, error) {
	if rc.base != "" {
		return rc.base, nil
	}
	if h.SubnetID != nil {
		n, err := r.store.Subnet(ctx, *h.SubnetID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if n.TemplateID != nil {
			p, err := r.store.SmartProxy(ctx, *n.TemplateID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
			if u := templateURL(p); u != "" {
				return u, nil
			}
		}
	}
	if r.unattendedURL != "" {
		return r.unattendedURL, nil
	}
	if rc.requestBase != "" {
		return rc.requestBase, nil
	}
	return "", errors.New("foreman_url has no base: set unattended_url in foreman-core.yml or a Templates proxy on the subnet")
}

// templateURL is the template_url a Templates proxy reports, else its URL.
func templateURL(p store.SmartProxy) string {
	if s, ok := p.Setting("Templates", "template_url").(string); ok && validBase(s) {
		return s
	}
	if p.HasFeature("Templates") {
		return p.URL
	}
	return ""
}

// validBase accepts what may become the base of every URL in a template: an absolute
// http(s) URL without spaces or control characters (they would break the script).
func validBase(s string) bool {
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '\'' || c == '"' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}
