package pxeboot

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Stand-in installer templates for foreman-core's templates_dir, shared by the VM
// tests (internal/e2e, internal/zones): a guest with no disk runs no real installer.
// Its "installer" is iPXE: the medium serves ipxe.lkrn as the kernel, StandInPXELinux
// hands iPXE a command line that chains the host's provisioning template, and
// StandInKickstart, that template, is an iPXE script that calls built where a
// kickstart's %post would, then prints the host parameter e2e_marker.
const (
	StandInPXELinux = `{{- /* stand-in: the medium's kernel is iPXE, which runs its command line as a script. */ -}}
# {{.Template}} for {{.Host.Name}}: e2e stand-in installer (iPXE)
DEFAULT install
PROMPT 0
TIMEOUT 10
LABEL install
  KERNEL {{.Boot.Kernel}}
  APPEND dhcp && chain {{foreman_url "provision"}}
`
	StandInKickstart = `#!ipxe
# {{.Template}} for {{.Host.Name}}: e2e stand-in for Anaconda, reporting the build
# done the way a kickstart's %post does.
echo stand-in installer of {{.Host.Name}} at ${net0/ip}
imgfetch {{foreman_url "built"}} || goto failed
echo {{param "e2e_marker"}} reported built
exit
:failed
echo {{param "e2e_marker"}} could not report built
`
)

// StartStandInMedium serves the stand-in installation medium at addr inside ns: its
// kernel is kernel (ipxe.lkrn), its initrd a placeholder. It returns the base URL.
func StartStandInMedium(t *testing.T, ns, addr string, kernel []byte) string {
	t.Helper()
	var ln net.Listener
	if err := InNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/images/pxeboot/vmlinuz"):
			w.Write(kernel)
		case strings.HasSuffix(r.URL.Path, "/images/pxeboot/initrd.img"):
			io.WriteString(w, "initrd placeholder: iPXE as the kernel needs none\n")
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
