package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// makeISO builds an ISO of files (path -> content) with xorriso's mkisofs emulation;
// args pick the name extensions: -R (Rock Ridge), -J (Joliet), none (ISO 9660 only).
func makeISO(t testing.TB, files map[string]string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("xorriso"); err != nil {
		t.Skip("xorriso not installed (Debian package xorriso): cannot build test ISOs")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for name, content := range files {
		p := filepath.Join(tree, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "image.iso")
	cmd := exec.Command("xorriso", append(append([]string{"-as", "mkisofs", "-quiet", "-o", out}, args...), tree)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xorriso %v: %v\n%s", args, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isoContent is what installation media look like, plus a name long enough to need a
// Rock Ridge continuation area.
var isoContent = map[string]string{
	"images/pxeboot/vmlinuz":    "RHEL kernel " + strings.Repeat("k", 5000),
	"images/pxeboot/initrd.img": "RHEL initrd " + strings.Repeat("i", 70000),
	"casper/vmlinuz":            "Ubuntu kernel",
	"casper/initrd":             "Ubuntu initrd",
	"EFI/BOOT/BOOTX64.EFI":      "shim",
	"casper/" + strings.Repeat("long-name-", 20) + "end": "long",
	"empty": "",
}

func readISOFile(t *testing.T, img *isoImage, name string) (string, error) {
	t.Helper()
	r, err := img.open(name)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b), nil
}

func TestISOLookupByEveryNameKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// names that resolve in this kind of image, to the content of isoContent[key]
		resolve map[string]string
	}{
		{"rock ridge and joliet", []string{"-R", "-J"}, map[string]string{
			"images/pxeboot/vmlinuz": "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img": "images/pxeboot/initrd.img",
			"casper/initrd": "casper/initrd", "EFI/BOOT/BOOTX64.EFI": "EFI/BOOT/BOOTX64.EFI",
			"efi/boot/bootx64.efi": "EFI/BOOT/BOOTX64.EFI", "empty": "empty",
			"casper/" + strings.Repeat("long-name-", 20) + "end": "casper/" + strings.Repeat("long-name-", 20) + "end",
		}},
		{"rock ridge", []string{"-R"}, map[string]string{
			"casper/vmlinuz": "casper/vmlinuz", "images/pxeboot/initrd.img": "images/pxeboot/initrd.img",
			"casper/" + strings.Repeat("long-name-", 20) + "end": "casper/" + strings.Repeat("long-name-", 20) + "end",
		}},
		{"joliet", []string{"-J"}, map[string]string{
			"casper/initrd": "casper/initrd", "images/pxeboot/initrd.img": "images/pxeboot/initrd.img",
			"EFI/BOOT/BOOTX64.EFI": "EFI/BOOT/BOOTX64.EFI",
		}},
		{"iso 9660 names only", nil, map[string]string{
			"images/pxeboot/vmlinuz": "images/pxeboot/vmlinuz", "IMAGES/PXEBOOT/VMLINUZ": "images/pxeboot/vmlinuz",
			"images/pxeboot/initrd.img": "images/pxeboot/initrd.img", "casper/initrd": "casper/initrd",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := makeISO(t, isoContent, tc.args...)
			img, err := openISO(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for name, key := range tc.resolve {
				got, err := readISOFile(t, img, name)
				if err != nil || got != isoContent[key] {
					t.Errorf("%s: %d bytes, %v; want the %d bytes of %s", name, len(got), err, len(isoContent[key]), key)
				}
			}
			for _, name := range []string{"casper/missing", "missing/initrd", "casper", "casper/initrd/x", "images/vmlinuz"} {
				if _, err := img.open(name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v, want not found", name, err)
				}
			}
		})
	}
}

// A cut-short download is an error naming the problem, never a short file.
func TestISOTruncated(t *testing.T) {
	b := makeISO(t, isoContent, "-R", "-J")
	full, err := openISO(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := full.open("images/pxeboot/initrd.img")
	if err != nil {
		t.Fatal(err)
	}
	_, off, n := r.Outer()
	cut := int(off + n - 1) // the image ends one byte before the file does
	img, err := openISO(bytes.NewReader(b[:cut]), int64(cut))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.open("images/pxeboot/initrd.img"); err == nil || !strings.Contains(err.Error(), "beyond the end") {
		t.Fatalf("truncated file: %v", err)
	}
	for _, n := range []int{0, 100, 16 * isoSector, 16*isoSector + 10} {
		if _, err := openISO(bytes.NewReader(b[:n]), int64(n)); !errors.Is(err, errNotISO) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func TestISOUnsupportedFilesFailCleanly(t *testing.T) {
	b := synthISO(true, []synthFile{
		{path: "big/part", data: []byte("first extent"), flags: isoFlagMultiExtent},
		{path: "big/interleaved", data: []byte("x"), unitSize: 1},
		{path: "ok", data: []byte("fine")},
	})
	img, err := openISO(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.open("big/part"); !errors.Is(err, errMultiExtent) {
		t.Errorf("multi-extent: %v", err)
	}
	if _, err := img.open("big/interleaved"); err == nil || !strings.Contains(err.Error(), "interleaved") {
		t.Errorf("interleaved: %v", err)
	}
	if got, err := readISOFile(t, img, "ok"); got != "fine" || err != nil {
		t.Errorf("ok: %q %v", got, err)
	}
}

// The synthetic images the fuzz target starts from are read correctly.
func TestSynthISO(t *testing.T) {
	for _, rr := range []bool{true, false} {
		b := synthISO(rr, synthSeedFiles)
		img, err := openISO(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if img.rockRidge != rr {
			t.Errorf("rock ridge detected %v, want %v", img.rockRidge, rr)
		}
		for _, f := range synthSeedFiles {
			if got, err := readISOFile(t, img, strings.ToUpper(f.path)); got != string(f.data) || err != nil {
				t.Errorf("rr %v %s: %q %v", rr, f.path, got, err)
			}
		}
	}
}

var synthSeedFiles = []synthFile{
	{path: "images/pxeboot/vmlinuz", data: []byte("kernel")},
	{path: "casper/initrd", data: bytes.Repeat([]byte("i"), 3000)},
}

// synthFile is a file of a synthetic image, with record fields xorriso never writes.
type synthFile struct {
	path     string
	data     []byte
	flags    byte
	unitSize byte
}

// synthISO writes a minimal ISO 9660 image by hand (one sector per directory), with
// Rock Ridge NM names when rockRidge is set: seeds for the fuzz target and records
// real tools do not produce.
func synthISO(rockRidge bool, files []synthFile) []byte {
	children := map[string][]string{"": nil}
	byPath := map[string]synthFile{}
	for _, f := range files {
		byPath[f.path] = f
		for p := f.path; p != "."; p = path.Dir(p) {
			parent := path.Dir(p)
			if parent == "." {
				parent = ""
			}
			if !contains(children[parent], p) {
				children[parent] = append(children[parent], p)
			}
			if _, isFile := byPath[p]; !isFile {
				if _, ok := children[p]; !ok {
					children[p] = nil
				}
			}
		}
	}
	dirs := make([]string, 0, len(children))
	for d := range children {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // "" (the root) first
	sector := map[string]uint32{}
	next := uint32(18) // 16: primary descriptor, 17: terminator
	for _, d := range dirs {
		sector[d], next = next, next+1
	}
	for _, f := range files {
		sector[f.path] = next
		next += uint32((len(f.data) + isoSector - 1) / isoSector)
	}
	img := make([]byte, int(next)*isoSector)
	record := func(extent, size uint32, flags, unitSize byte, id []byte, name string) []byte {
		var sua []byte
		if rockRidge && name != "" {
			sua = append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
		}
		n := 33 + len(id) + (1 - len(id)%2) + len(sua)
		b := make([]byte, n)
		b[0] = byte(n)
		binary.LittleEndian.PutUint32(b[2:], extent)
		binary.BigEndian.PutUint32(b[6:], extent)
		binary.LittleEndian.PutUint32(b[10:], size)
		binary.BigEndian.PutUint32(b[14:], size)
		b[25], b[26] = flags, unitSize
		b[32] = byte(len(id))
		copy(b[33:], id)
		copy(b[n-len(sua):], sua)
		return b
	}
	pvd := img[16*isoSector:]
	pvd[0] = 1
	copy(pvd[1:], "CD001\x01")
	binary.LittleEndian.PutUint32(pvd[80:], next)
	binary.LittleEndian.PutUint16(pvd[128:], isoSector)
	copy(pvd[156:], record(sector[""], isoSector, isoFlagDir, 0, []byte{0}, ""))
	copy(img[17*isoSector:], "\xffCD001\x01")
	for _, d := range dirs {
		out := img[int(sector[d])*isoSector:]
		dot := record(sector[d], isoSector, isoFlagDir, 0, []byte{0}, "")
		if d == "" && rockRidge {
			sp := []byte{'S', 'P', 7, 1, 0xbe, 0xef, 0}
			dot = append(dot, sp...)
			dot[0] = byte(len(dot))
		}
		off := copy(out, dot)
		off += copy(out[off:], record(sector[d], isoSector, isoFlagDir, 0, []byte{1}, ""))
		for _, c := range children[d] {
			base := path.Base(c)
			if f, isFile := byPath[c]; isFile {
				id := strings.ToUpper(base)
				if !strings.Contains(id, ".") {
					id += "."
				}
				off += copy(out[off:], record(sector[c], uint32(len(f.data)), f.flags, f.unitSize, []byte(id+";1"), base))
				copy(img[int(sector[c])*isoSector:], f.data)
			} else {
				off += copy(out[off:], record(sector[c], isoSector, isoFlagDir, 0, []byte(strings.ToUpper(base)), base))
			}
		}
	}
	return img
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
