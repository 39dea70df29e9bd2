package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/store"
)

// MountOptions are the collaborators of the /unattended and /userdata handlers.
type MountOptions struct {
	Store    *store.Store
	Renderer *Renderer
	Finisher BuildFinisher      // nil = StoreOnly
	Log      logrus.FieldLogger // nil = logrus standard logger
	// Preview guards template previews (?spoof=IP, ?hostname=NAME): auth.RequireUser()
	// in the core. nil = no previews; those parameters are then ignored.
	Preview echo.MiddlewareFunc
	// Origin is the scheme and host the client addressed, the core's own address in
	// foreman_url when nothing else gives one: auth.Authenticator.Origin in the core
	// (X-Forwarded-Proto/-Host from trusted_proxies). nil = as the request arrived.
	Origin func(*http.Request) (scheme, host string)
}

// maxBuildErrors is what Foreman keeps of a failed installer's log (MAX_BUILT_BODY).
const maxBuildErrors = 65535

// Mount adds the provisioning routes to the core's Echo app (foreman-clients.md §4).
// They need no login: hosts being built have no identity but their token, MAC or IP.
// Every answer is text/plain; the app's IPExtractor (auth.ClientIP) gives the client IP.
func Mount(e *echo.Echo, opts MountOptions) {
	u := &unattended{store: opts.Store, renderer: opts.Renderer, finisher: opts.Finisher, log: opts.Log, preview: opts.Preview, origin: opts.Origin}
	if u.finisher == nil {
		u.finisher = StoreOnly{}
	}
	if u.log == nil {
		u.log = logrus.StandardLogger()
	}
	e.GET("/unattended/public/:name", u.public)
	for _, p := range []string{"/unattended/built", "/unattended/built/:id"} {
		e.GET(p, u.built)
		e.POST(p, u.built)
	}
	for _, p := range []string{"/unattended/failed", "/unattended/failed/:id"} {
		e.POST(p, u.failed)
	}
	e.GET("/unattended", noKind)
	for _, p := range []string{"/unattended/:kind", "/unattended/:kind/:id"} {
		e.GET(p, u.hostTemplate)
		e.POST(p, notARoute)
	}
	e.GET("/userdata/:kind", u.userdata)
	e.GET("/userdata/:mac/:kind", u.userdata)
}

type unattended struct {
	store    *store.Store
	renderer *Renderer
	finisher BuildFinisher
	log      logrus.FieldLogger
	preview  echo.MiddlewareFunc
	origin   func(*http.Request) (scheme, host string)
}

// hostTemplate serves GET /unattended/KIND: the host's template of that kind. iPXE
// requests are answered first as Foreman does: no host → the intermediate script
// (?bootstrap) or the global default, a host not in build → its local-boot script.
func (u *unattended) hostTemplate(c echo.Context) error {
	if u.preview != nil && isPreview(c) {
		return u.preview(u.previewTemplate)(c)
	}
	kind := c.Param("kind")
	ipxe := kind == KindIPXE || kind == "gPXE"
	ctx := c.Request().Context()
	rc := u.requestContext(c, kind)
	f, err := findHost(ctx, u.store, c)
	if err != nil {
		return u.internal(c, err, ipxe)
	}
	if ipxe && f.host == nil {
		name := "ipxe_global_default"
		if c.QueryParams().Has("bootstrap") {
			name = "public/ipxe_intermediate"
		}
		return u.answer(c, ipxe, nil, name, rc, fmt.Sprintf("iPXE template '%s' not found", name))
	}
	if fail := u.verify(ctx, c, f, true); fail != nil {
		return u.refuse(c, *fail, ipxe)
	}
	if ipxe && !f.host.Build {
		return u.answer(c, ipxe, f.host, "ipxe_local", rc, "iPXE default local boot template 'ipxe_local' not found")
	}
	if !f.host.Build {
		return text(c, http.StatusMethodNotAllowed, "")
	}
	os, err := u.store.OperatingSystem(ctx, *f.host.OperatingSystemID)
	if err != nil {
		return u.internal(c, err, ipxe)
	}
	notFound := fmt.Sprintf("unable to find %s template for %s running %s", printable(kind), f.host.Name, os.Title())
	name, ok := hostTemplate(kind, OSVars{Family: os.Family}, true)
	if !ok {
		return u.refuse(c, refusal{http.StatusNotFound, notFound}, ipxe)
	}
	return u.answer(c, ipxe, f.host, name, rc, notFound)
}

// answer renders name for h (nil: no host) and sends it, or the error as Foreman does
// (notFound when the template does not exist).
func (u *unattended) answer(c echo.Context, ipxe bool, h *store.Host, name string, rc renderContext, notFound string) error {
	ctx := c.Request().Context()
	var out string
	var err error
	if h == nil {
		out, err = u.renderer.render(ctx, &Vars{Params: map[string]string{}}, store.Host{}, name, rc)
	} else {
		out, err = u.renderer.renderHost(ctx, *h, name, rc)
	}
	var re *RenderError
	switch {
	case err == nil:
		return text(c, http.StatusOK, out)
	case errors.Is(err, ErrNoTemplate):
		return u.refuse(c, refusal{http.StatusNotFound, notFound}, ipxe)
	case errors.As(err, &re):
		u.log.Warnf("unattended: %v", err)
		return u.refuse(c, refusal{http.StatusInternalServerError, re.Error()}, ipxe)
	}
	return u.internal(c, err, ipxe)
}

// public serves GET /unattended/public/NAME: a template that needs no host.
func (u *unattended) public(c echo.Context) error {
	name := c.Param("name")
	out, err := u.renderer.render(c.Request().Context(), &Vars{Params: map[string]string{}}, store.Host{},
		"public/"+name, u.requestContext(c, "public"))
	var re *RenderError
	switch {
	case err == nil:
		return text(c, http.StatusOK, out)
	case errors.Is(err, ErrNoTemplate):
		return text(c, http.StatusNotFound, fmt.Sprintf("unable to find the public template %q", name))
	case errors.As(err, &re):
		u.log.Warnf("unattended: %v", err)
		return text(c, http.StatusInternalServerError, re.Error())
	}
	return u.internal(c, err, false)
}

// built serves GET and POST /unattended/built: the installation finished.
func (u *unattended) built(c echo.Context) error { return u.finish(c, false) }

// failed serves POST /unattended/failed: the installation failed; the body is its log.
func (u *unattended) failed(c echo.Context) error { return u.finish(c, true) }

// finish takes the host out of build mode: the finisher acts on the proxies (local
// boot from now on), then the store drops the token and keeps the build errors.
// 201 when done, 409 when either step fails (Foreman's host.built ? created : conflict).
func (u *unattended) finish(c echo.Context, failed bool) error {
	ctx := c.Request().Context()
	f, err := findHost(ctx, u.store, c)
	if err != nil {
		return u.internal(c, err, false)
	}
	if fail := u.verify(ctx, c, f, false); fail != nil {
		return u.refuse(c, *fail, false)
	}
	if !f.host.Build {
		return text(c, http.StatusMethodNotAllowed, "")
	}
	var buildErrors string
	if failed {
		if buildErrors, err = readBuildErrors(c.Request().Body); err != nil {
			return text(c, http.StatusBadRequest, fmt.Sprintf("unattended: reading the installer's log: %v", err))
		}
	}
	h := *f.host
	h.Build = false
	if err := u.finisher.Built(ctx, h); err != nil {
		u.log.Warnf("unattended: failed to take %s out of build mode: %v", h.Name, err)
		return text(c, http.StatusConflict, "")
	}
	// installed_at is set for failed too: Foreman's failed action calls host.built,
	// whose installed argument defaults to true.
	err = u.store.FinishBuild(ctx, h.ID, buildErrors, true)
	if errors.Is(err, store.ErrNotInBuild) {
		return text(c, http.StatusConflict, "")
	}
	if err != nil {
		return u.internal(c, err, false)
	}
	if failed {
		u.log.Warnf("unattended: %s build failed!", h.Name)
	} else {
		u.log.Infof("unattended: %s is built!", h.Name)
	}
	return text(c, http.StatusCreated, "")
}

// readBuildErrors keeps the first 65535 bytes of an installer's log as valid UTF-8
// without NUL (PostgreSQL text cannot hold it), marking a cut as Foreman does.
func readBuildErrors(body io.Reader) (string, error) {
	if body == nil {
		return "", nil
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxBuildErrors))
	if err != nil {
		return "", err
	}
	s := strings.ReplaceAll(strings.ToValidUTF8(string(raw), "_"), "\x00", "_")
	if len(raw) >= maxBuildErrors {
		s += "\n\nOutput trimmed\n"
	}
	return s, nil
}

// refusal is an answer with Foreman's status and message.
type refusal struct {
	status  int
	message string
}

// verify is Foreman's HostVerifier: token expired (templates only) → 401, no host →
// 404, no OS or an OS without family → 409.
func (u *unattended) verify(ctx context.Context, c echo.Context, f found, forTemplate bool) *refusal {
	if f.host == nil {
		return &refusal{http.StatusNotFound, "unattended: unable to find a host that matches the request from " + peerAddress(c.Request())}
	}
	if forTemplate && f.token != nil && f.token.Expired(u.renderer.now()) {
		return &refusal{http.StatusUnauthorized, fmt.Sprintf("unattended: provisioning token for host %s expired", f.host.Name)}
	}
	if f.host.OperatingSystemID == nil {
		return &refusal{http.StatusConflict, fmt.Sprintf("unattended: %s's operating system is missing", f.host.Name)}
	}
	os, err := u.store.OperatingSystem(ctx, *f.host.OperatingSystemID)
	if errors.Is(err, store.ErrNotFound) {
		return &refusal{http.StatusConflict, fmt.Sprintf("unattended: %s's operating system is missing", f.host.Name)}
	}
	if err == nil && strings.TrimSpace(os.Family) == "" {
		return &refusal{http.StatusConflict, fmt.Sprintf("unattended: %s's operating system %s has no OS family", f.host.Name, os.Title())}
	}
	return nil // a store error shows when the template loads the OS again
}

// refuse sends a refusal, as an iPXE script for iPXE requests (so the firmware shows
// it and drops to its shell instead of failing to parse a text).
func (u *unattended) refuse(c echo.Context, r refusal, ipxe bool) error {
	if ipxe {
		return text(c, r.status, ipxeMessage(r.message))
	}
	return text(c, r.status, r.message)
}

// internal answers a failure of the core itself (the database), logged in full.
func (u *unattended) internal(c echo.Context, err error, ipxe bool) error {
	u.log.WithError(err).Errorf("%s %s", c.Request().Method, c.Request().URL.Path)
	return u.refuse(c, refusal{http.StatusInternalServerError, "Internal error, see the log of foreman-core"}, ipxe)
}

// ipxeMessage is Foreman's iPXE error script: show the message, open the shell.
func ipxeMessage(msg string) string {
	return "#!ipxe\necho " + printable(msg) + "\nshell\n"
}

// printable replaces control characters, so a kind sent by a client cannot add lines
// to a reply (or commands to an iPXE script).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// noKind answers GET /unattended: Foreman's host_template without a kind (empty 404).
func noKind(c echo.Context) error { return text(c, http.StatusNotFound, "") }

// notARoute answers POST to a template kind: Foreman routes only built and failed.
func notARoute(c echo.Context) error {
	return text(c, http.StatusNotFound, "Not Found")
}

// text answers with Foreman's Content-Type for every /unattended response.
func text(c echo.Context, status int, body string) error {
	return c.Blob(status, "text/plain", []byte(body))
}

// requestContext is what the request says about rendering: the relay's url, ?static=,
// and the core's own address as the client reached it (behind a trusted TLS
// terminator, the address the client used: u.origin).
func (u *unattended) requestContext(c echo.Context, kind string) renderContext {
	r := c.Request()
	rc := renderContext{kind: kind, static: c.QueryParam("static") != ""}
	if base := c.QueryParam("url"); validBase(base) {
		rc.base = base
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if u.origin != nil {
		scheme, host = u.origin(r)
	}
	if own := scheme + "://" + host; validBase(own) {
		rc.requestBase = own
	}
	return rc
}

// peerAddress is the address the request came from (Foreman's REMOTE_ADDR: the
// relay's own address when a proxy relays).
func peerAddress(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
