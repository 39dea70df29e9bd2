package tftp

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
)

// bootloader is what Foreman ≥ 3.14 sends besides pxeconfig for a host (spec §10):
// the OS, its release and architecture pick GRUB2 EFI binaries for the host.
type bootloader struct {
	os, release, arch, suffix string
}

// safeSegment is what may appear as one path segment of the bootloader universe.
var safeSegment = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

var errBadBootloader = errors.New("Invalid bootloader universe operating system path")

// bootloaderFrom reads the optional fields; ok is false when Foreman sent none of them
// (Foreman ≤ 3.13), in which case only the classic files are written.
func bootloaderFrom(p url.Values) (b bootloader, ok bool, err error) {
	b = bootloader{os: p.Get("targetos"), release: p.Get("release"), arch: p.Get("arch"), suffix: p.Get("bootfile_suffix")}
	if b == (bootloader{}) {
		return b, false, nil
	}
	for _, part := range []string{b.os, b.release, b.arch} {
		if part != "" && (part == "." || part == ".." || !safeSegment.MatchString(part)) {
			return b, true, errBadBootloader
		}
	}
	if b.suffix != "" && (!safeSegment.MatchString(b.suffix) || strings.Contains(b.suffix, "..")) {
		return b, true, fmt.Errorf("invalid bootfile_suffix %q", b.suffix)
	}
	return b, true, nil
}

// hostConfigDir is host-config/<aa-bb-cc-dd-ee-ff>, the per-host tree of newer proxies.
func hostConfigDir(mac string) string { return "host-config/" + strings.ToLower(dashed(mac)) }

// setupHostConfig writes the GRUB2 configs into host-config/<mac>/grub2/ and links the
// EFI binaries there: every *.efi of the matching bootloader universe directory if one
// exists, else grub<suffix>.efi and shim<suffix>.efi from grub2/ (also as boot.efi and
// boot-sb.efi). Links are relative so the tree can be moved or served by any server.
func (f *Feature) setupHostConfig(mac string, content []byte, b bootloader) error {
	dir := hostConfigDir(mac) + "/grub2"
	lower := strings.ToLower(mac)
	for _, name := range []string{"grub.cfg", "grub.cfg-01-" + dashed(lower), "grub.cfg-" + lower} {
		if err := f.store.write(dir+"/"+name, content); err != nil {
			return err
		}
	}
	for _, old := range f.store.list(dir) {
		if strings.HasSuffix(old, ".efi") {
			if err := f.store.remove(dir + "/" + old); err != nil {
				return err
			}
		}
	}
	links := f.universeLinks(b)
	if links == nil {
		grub, shim := "grub2/grub"+b.suffix+".efi", "grub2/shim"+b.suffix+".efi"
		links = map[string]string{"boot.efi": grub, path.Base(grub): grub, "boot-sb.efi": shim, path.Base(shim): shim}
	}
	names := make([]string, 0, len(links))
	for name := range links {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := f.store.symlink(links[name], dir+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

// universeLinks maps every *.efi of bootloader-universe/pxegrub2/<os>/<release or
// default>/<arch>/ to a link name, or returns nil when no such directory exists.
func (f *Feature) universeLinks(b bootloader) map[string]string {
	if b.os == "" || b.arch == "" {
		return nil
	}
	for _, version := range []string{b.release, "default"} {
		if version == "" {
			continue
		}
		dir := path.Join("bootloader-universe/pxegrub2", b.os, version, b.arch)
		if !f.store.isDir(dir) {
			continue
		}
		links := map[string]string{}
		for _, name := range f.store.list(dir) {
			if strings.HasSuffix(name, ".efi") {
				links[name] = dir + "/" + name
			}
		}
		return links
	}
	return nil
}
