package templates

import (
	"net/http"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
)

// templateServer is GET /unattended/templateServer: the URL Foreman renders into
// templates for hosts of this proxy's subnets.
func (f *Feature) templateServer(w http.ResponseWriter, _ *http.Request) {
	httpapi.JSON(w, http.StatusOK, map[string]string{"templateServer": f.templateURL})
}

// unattended is GET and POST /unattended/:kind: a host's template (provision, finish,
// iPXE, ...) or its report that the build ended (POST built, failed).
func (f *Feature) unattended(w http.ResponseWriter, r *http.Request) {
	kind := httpapi.PathParam(r, "kind")
	f.relay(w, r, relayCall{
		segments:        []string{"unattended", kind},
		failure:         "Failed to proxy /" + kind,
		connErrorStatus: http.StatusBadRequest,
	})
}

// unattendedWithID is GET /unattended/:kind/:template, Foreman's unattended/:kind/:id.
func (f *Feature) unattendedWithID(w http.ResponseWriter, r *http.Request) {
	kind := httpapi.PathParam(r, "kind")
	f.relay(w, r, relayCall{
		segments:        []string{"unattended", kind, httpapi.PathParam(r, "template")},
		failure:         "Failed to retrieve " + kind + " template",
		connErrorStatus: http.StatusBadRequest,
	})
}

// hostgroupTemplate is GET /unattended/:kind/:template/:hostgroup, Foreman's
// unattended/template/:id/*hostgroup. A nested hostgroup's title holds "/"
// ("base/web"), so the hostgroup is the rest of the path.
func (f *Feature) hostgroupTemplate(w http.ResponseWriter, r *http.Request) {
	kind := httpapi.PathParam(r, "kind")
	segments := []string{"unattended", kind, httpapi.PathParam(r, "template")}
	segments = append(segments, strings.Split(httpapi.PathParam(r, "splat"), "/")...)
	f.relay(w, r, relayCall{
		segments:        segments,
		failure:         "Failed to retrieve " + kind + " hostgroup template",
		connErrorStatus: http.StatusBadRequest,
	})
}

// userdata is GET /userdata/:kind and /userdata/:mac/:kind: cloud-init's user-data
// and meta-data.
func (f *Feature) userdata(w http.ResponseWriter, r *http.Request) {
	kind := httpapi.PathParam(r, "kind")
	segments := []string{"userdata", kind}
	if mac := httpapi.PathParam(r, "mac"); mac != "" {
		segments = []string{"userdata", mac, kind}
	}
	f.relay(w, r, relayCall{
		segments:        segments,
		failure:         "Failed to retrieve " + kind + " userdata template",
		connErrorStatus: http.StatusInternalServerError,
	})
}
