// Package httpboot is the HTTPBoot feature (spec §5.9): the TFTP tree served over HTTP
// for UEFI HTTP boot, under /httpboot, /EFI and /EFI/BOOT, without authentication and
// confined to :root_dir: by the same rules as the TFTP server.
package httpboot

import (
	"net/http"
	"path/filepath"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// Feature serves files of root_dir.
type Feature struct {
	root      string
	httpPort  any // the global port when enabled for that listener, else nil (JSON null)
	httpsPort any
}

var (
	_ registry.Feature = (*Feature)(nil)
	_ registry.Exposer = (*Feature)(nil)
)

// New returns the feature; settings come later through Configure.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "httpboot" }

// Configure reads httpboot.yml and works out which ports clients can use: the global
// http_port/https_port for each listener this feature is enabled on.
func (f *Feature) Configure(env *registry.Env) error {
	s := env.Settings
	f.root = s.Path("root_dir", "/var/lib/tftpboot")
	if abs, err := filepath.Abs(f.root); err == nil {
		f.root = abs
	}
	enabled := s.Enabled(settings.EnabledNone)
	f.httpPort, f.httpsPort = nil, nil
	if enabled.HTTP() && env.Global.HTTPPort > 0 {
		f.httpPort = env.Global.HTTPPort
	}
	if enabled.HTTPS() && env.Global.HTTPSPort > 0 {
		f.httpsPort = env.Global.HTTPSPort
	}
	return nil
}

// ExposedSettings: Foreman builds the HTTP boot URL from these ports.
func (f *Feature) ExposedSettings() map[string]any {
	return map[string]any{"http_port": f.httpPort, "https_port": f.httpsPort}
}

// Routes: the Ruby proxy mounts the same application at each prefix, so the prefix is
// dropped and the rest names a file under root_dir (/EFI/BOOT/x is root_dir/x).
func (f *Feature) Routes() []registry.Route {
	var routes []registry.Route
	for _, prefix := range []string{"/httpboot", "/EFI", "/EFI/BOOT"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			routes = append(routes,
				registry.Route{Method: method, Path: prefix + "/*", Handler: f.serve, Public: true},
				registry.Route{Method: method, Path: prefix, Handler: f.serve, Public: true})
		}
	}
	return routes
}
