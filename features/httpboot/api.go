package httpboot

import (
	"net/http"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/fileserve"
)

// serve answers GET/HEAD /httpboot/*, /EFI/* and /EFI/BOOT/* with the file under
// root_dir, with the Ruby proxy's statuses (see fileserve.Serve).
func (f *Feature) serve(w http.ResponseWriter, r *http.Request) {
	fileserve.Serve(w, r, f.root, httpapi.PathParam(r, "splat"))
}
