package provision

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/store"
)

// userdata serves cloud-init's NoCloud datasource (GET /userdata/[MAC/]KIND, relayed by
// a proxy's templates feature): user-data is the host's cloud-init template,
// meta-data names the instance, vendor-data is empty. The host is the one with the
// MAC in the path, else the client IP's; it need not be in build.
func (u *unattended) userdata(c echo.Context) error {
	ctx := c.Request().Context()
	var f found
	var err error
	if mac := c.Param("mac"); mac != "" {
		f, err = hostOrNone(u.store.HostByMAC(ctx, normaliseMAC(mac)))(nil)
	} else {
		f, err = findHost(ctx, u.store, c)
	}
	if err != nil {
		return u.internal(c, err, false)
	}
	if f.host == nil {
		return text(c, http.StatusNotFound, "userdata: unable to find a host that matches the request from "+peerAddress(c.Request()))
	}
	switch c.Param("kind") {
	case "user-data":
		return u.answer(c, false, f.host, "cloud_init", u.requestContext(c, "cloud-init"),
			fmt.Sprintf("unable to find cloud-init template for %s", f.host.Name))
	case "meta-data":
		return text(c, http.StatusOK, metaData(*f.host))
	case "vendor-data":
		return text(c, http.StatusOK, "")
	}
	return text(c, http.StatusNotFound, fmt.Sprintf("userdata: unknown kind %q", c.Param("kind")))
}

// metaData is the NoCloud meta-data of a host (YAML; names are DNS names, no quoting needed).
func metaData(h store.Host) string {
	return fmt.Sprintf("instance-id: %s-%d\nlocal-hostname: %s\n", h.Name, h.ID, h.Name)
}
