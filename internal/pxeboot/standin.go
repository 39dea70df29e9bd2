package pxeboot

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
