package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/smartproxy/smartproxy/core/store"
)

// BootFiles are the installer's kernel and initrd of a host: where its medium has
// them, and the TFTP paths a proxy stores them under after POST /tftp/fetch_boot_file
// with prefix=Prefix and path=KernelURL (or InitrdURL): the proxy names the file
// Prefix + "-" + the URL's last segment. core/orchestrate fetches them with these
// values and the PXE templates point at the same paths.
type BootFiles struct {
	Prefix               string // boot/<os>-<hash of the medium URL>
	KernelURL, InitrdURL string
	Kernel, Initrd       string // TFTP paths, e.g. boot/almalinux-9.4-1a2b3c4d-vmlinuz
	InitrdName           string // last segment of InitrdURL (iPXE's initrd=)
}

// BootFilesFor computes the boot files of an OS installed from medium m on arch; the
// zero value for families whose installer is not booted from kernel and initrd here.
func BootFilesFor(os store.OperatingSystem, m store.Medium, arch string) BootFiles {
	base := strings.TrimRight(m.URLFor(os, arch), "/")
	var kernel, initrd string
	switch family(os.Family) {
	case familyRedhat:
		kernel, initrd = base+"/images/pxeboot/vmlinuz", base+"/images/pxeboot/initrd.img"
	case familyDebian:
		installer := "debian-installer"
		if strings.Contains(strings.ToLower(os.Name), "ubuntu") {
			installer = "ubuntu-installer"
		}
		a := debianArch(arch)
		dir := base + "/dists/" + os.ReleaseName + "/main/installer-" + a + "/current/images/netboot/" + installer + "/" + a
		kernel, initrd = dir+"/linux", dir+"/initrd.gz"
	default:
		return BootFiles{}
	}
	sum := sha256.Sum256([]byte(base))
	prefix := "boot/" + slug(os.Name+"-"+os.Major+dotted(os.Minor)) + "-" + hex.EncodeToString(sum[:4])
	return BootFiles{
		Prefix: prefix, KernelURL: kernel, InitrdURL: initrd,
		Kernel: prefix + "-" + path.Base(kernel), Initrd: prefix + "-" + path.Base(initrd),
		InitrdName: path.Base(initrd),
	}
}

func dotted(minor string) string {
	if minor == "" {
		return ""
	}
	return "." + minor
}

// debianArch maps Foreman's architecture names to Debian's.
func debianArch(arch string) string {
	switch arch {
	case "x86_64", "":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i386", "i686":
		return "i386"
	}
	return arch
}

// slug keeps a name safe as a TFTP file name: lower-case letters, digits, dots, dashes.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-.")
}

// Families of operating systems the shipped templates know.
const (
	familyRedhat = "redhat"
	familyDebian = "debian"
)

// family normalises Foreman's family names ("Redhat", "Debian").
func family(f string) string { return strings.ToLower(f) }
