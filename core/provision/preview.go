package provision

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// isPreview: the request asks to see a host's template as that host would
// (Foreman's spoof=IP or hostname=NAME), which needs a logged-in user.
func isPreview(c echo.Context) bool {
	q := c.QueryParams()
	return q.Has("spoof") || q.Has("hostname")
}

// previewTemplate renders the template of KIND for the host named by ?spoof= (its IP)
// or ?hostname=, in or out of build: an admin checks what an installer would get.
// iPXE previews of a host not in build show its local-boot script, as iPXE would get.
func (u *unattended) previewTemplate(c echo.Context) error {
	ctx := c.Request().Context()
	kind := c.Param("kind")
	ipxe := kind == KindIPXE || kind == "gPXE"
	var h store.Host
	var err error
	if ip := net.ParseIP(c.QueryParam("spoof")); ip != nil {
		h, err = u.store.HostByIP(ctx, ip.String())
	} else if name := c.QueryParam("hostname"); name != "" {
		h, err = u.store.HostByName(ctx, name)
	} else {
		err = store.ErrNotFound
	}
	f := found{host: &h}
	if errors.Is(err, store.ErrNotFound) {
		f.host = nil
	} else if err != nil {
		return u.internal(c, err, ipxe)
	}
	if fail := u.verify(ctx, c, f, false); fail != nil {
		return u.refuse(c, *fail, ipxe)
	}
	rc := u.requestContext(c, kind)
	if ipxe && !h.Build {
		return u.answer(c, ipxe, &h, "ipxe_local", rc, "iPXE default local boot template 'ipxe_local' not found")
	}
	os, err := u.store.OperatingSystem(ctx, *h.OperatingSystemID)
	if err != nil {
		return u.internal(c, err, ipxe)
	}
	notFound := fmt.Sprintf("unable to find %s template for %s running %s", printable(kind), h.Name, os.Title())
	name, ok := hostTemplate(kind, OSVars{Family: os.Family}, true)
	if !ok {
		return u.refuse(c, refusal{http.StatusNotFound, notFound}, ipxe)
	}
	return u.answer(c, ipxe, &h, name, rc, notFound)
}
