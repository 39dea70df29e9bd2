package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// isoImage finds files inside an ISO 9660 (ECMA-119) image, the format of installation
// media: kernels and initrds are read straight out of the downloaded ISO. Names are
// looked up in the primary tree, by Rock Ridge name where the image has them (what
// mkisofs -R and every distribution ISO write) and else by the ISO 9660 name, then in
// the Joliet tree. Only what a lookup needs is read; nothing in the image is trusted:
// every offset is checked against the image's size and every loop is bounded.
type isoImage struct {
	r         io.ReaderAt
	size      int64
	blockSize int64
	root      isoRecord
	joliet    *isoRecord // root of the Joliet tree, nil without one
	rockRidge bool       // the root carries a SUSP "SP" entry: parse Rock Ridge names
	suspSkip  int        // bytes to skip at the start of each system use area (from "SP")
}

// isoRecord is one directory record: a file or a directory.
type isoRecord struct {
	extent   int64 // first logical block
	size     int64 // bytes
	extAttr  int64 // blocks of extended attributes before the data
	flags    byte
	unitSize byte // interleaving, unsupported when not 0
	gap      byte
	name     string // ISO 9660 identifier ("VMLINUZ.;1"), or the decoded Joliet name
	rrName   string // Rock Ridge NM name, "" when none
	symlink  bool   // Rock Ridge SL entry
}

const (
	isoSector          = 2048 // logical sector: volume descriptors, directory record boundaries
	isoFirstDescriptor = 16
	isoMaxDescriptors  = 64 // real images have 2-4; garbage must not scan the whole input
	isoMaxContinuation = 8  // Rock Ridge CE hops per record
	isoFlagDir         = 0x02
	isoFlagMultiExtent = 0x80
	isoMinRecord       = 34 // fixed part (33 bytes) plus a one-byte identifier
)

var (
	errNotISO      = errors.New("not an ISO 9660 image")
	errMultiExtent = errors.New("file is split into several extents (larger than 4 GiB), which is not supported")
)

// openISO reads the volume descriptors of the image in r (size bytes long).
func openISO(r io.ReaderAt, size int64) (*isoImage, error) {
	img := &isoImage{r: r, size: size}
	havePrimary := false
	buf := make([]byte, isoSector)
	for i := int64(0); i < isoMaxDescriptors; i++ {
		if err := img.readAt(buf, (isoFirstDescriptor+i)*isoSector); err != nil {
			if havePrimary {
				break
			}
			return nil, fmt.Errorf("%w: %w", errNotISO, err)
		}
		if string(buf[1:6]) != "CD001" {
			if havePrimary {
				break
			}
			return nil, fmt.Errorf("%w: no volume descriptor at sector %d", errNotISO, isoFirstDescriptor+i)
		}
		kind := buf[0]
		if kind == 255 { // set terminator
			break
		}
		switch {
		case kind == 1 && !havePrimary:
			bs := int64(binary.LittleEndian.Uint16(buf[128:]))
			if bs != 512 && bs != 1024 && bs != 2048 {
				return nil, fmt.Errorf("%w: logical block size %d", errNotISO, bs)
			}
			img.blockSize = bs
			root, err := img.parseRecord(buf[156:190], false)
			if err != nil {
				return nil, fmt.Errorf("%w: root directory record: %w", errNotISO, err)
			}
			img.root = root
			havePrimary = true
		case kind == 2 && img.joliet == nil && isJolietEscape(buf[88:91]):
			root, err := img.parseRecord(buf[156:190], true)
			if err == nil && root.flags&isoFlagDir != 0 {
				img.joliet = &root
			}
		}
	}
	if !havePrimary {
		return nil, fmt.Errorf("%w: no primary volume descriptor", errNotISO)
	}
	if img.root.flags&isoFlagDir == 0 {
		return nil, fmt.Errorf("%w: root is not a directory", errNotISO)
	}
	img.detectRockRidge()
	return img, nil
}

// isJolietEscape: a supplementary descriptor is Joliet when its escape sequences name
// UCS-2 level 1, 2 or 3.
func isJolietEscape(esc []byte) bool {
	return esc[0] == 0x25 && esc[1] == 0x2f && (esc[2] == 0x40 || esc[2] == 0x43 || esc[2] == 0x45)
}

// detectRockRidge looks for the SUSP "SP" entry that starts the system use area of the
// root's "." record; without it, system use bytes are not interpreted at all.
func (img *isoImage) detectRockRidge() {
	start, _, err := img.dataRange(img.root)
	if err != nil {
		return
	}
	buf := make([]byte, min(isoSector, img.root.size))
	if len(buf) == 0 || img.readAt(buf, start) != nil {
		return
	}
	n := int(buf[0])
	if n < isoMinRecord || n > len(buf) {
		return
	}
	sua := systemUse(buf[:n])
	if len(sua) >= 7 && string(sua[:2]) == "SP" && sua[2] >= 7 && sua[4] == 0xbe && sua[5] == 0xef {
		img.rockRidge, img.suspSkip = true, int(sua[6])
	}
}

// open returns the content of the file at name (slash-separated, relative to the
// image's root, no "." or ".." segments). A missing file wraps fs.ErrNotExist.
func (img *isoImage) open(name string) (*io.SectionReader, error) {
	parts := strings.Split(name, "/")
	rec, err := img.walk(img.root, false, parts)
	if errors.Is(err, fs.ErrNotExist) && img.joliet != nil {
		rec, err = img.walk(*img.joliet, true, parts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s in the image: %w", name, err)
	}
	switch {
	case rec.flags&isoFlagMultiExtent != 0:
		return nil, fmt.Errorf("%s in the image: %w", name, errMultiExtent)
	case rec.unitSize != 0 || rec.gap != 0:
		return nil, fmt.Errorf("%s in the image: interleaved files are not supported", name)
	case rec.symlink:
		return nil, fmt.Errorf("%s in the image is a symbolic link, which is not followed", name)
	}
	start, size, err := img.dataRange(rec)
	if err != nil {
		return nil, fmt.Errorf("%s in the image: %w", name, err)
	}
	return io.NewSectionReader(img.r, start, size), nil
}

// walk follows parts from dir: every part but the last must name a directory, the
// last a file. Names that match exactly win over names that match ignoring case.
func (img *isoImage) walk(dir isoRecord, joliet bool, parts []string) (isoRecord, error) {
	for i, part := range parts {
		wantDir := i < len(parts)-1
		var exact, folded *isoRecord
		err := img.readDir(dir, joliet, func(rec isoRecord) bool {
			if (rec.flags&isoFlagDir != 0) != wantDir || rec.name == "\x00" || rec.name == "\x01" {
				return true
			}
			if rec.matches(part, joliet) {
				exact = &rec
				return false
			}
			if folded == nil && rec.matchesFolded(part) {
				folded = &rec
			}
			return true
		})
		if err != nil {
			return isoRecord{}, err
		}
		switch {
		case exact != nil:
			dir = *exact
		case folded != nil:
			dir = *folded
		default:
			return isoRecord{}, fs.ErrNotExist
		}
	}
	return dir, nil
}

// matches: the Rock Ridge name, or the Joliet name without its version, exactly.
func (rec isoRecord) matches(part string, joliet bool) bool {
	if rec.rrName != "" {
		return rec.rrName == part
	}
	return joliet && plainName(rec.name) == part
}

// matchesFolded compares ignoring case. ISO 9660 names are upper-case 8.3 with a
// version ("VMLINUZ.;1"), so they also match without the version and a trailing dot;
// a record with a Rock Ridge name is only known by that name, not by its 8.3 stand-in.
func (rec isoRecord) matchesFolded(part string) bool {
	if rec.rrName != "" {
		return strings.EqualFold(rec.rrName, part)
	}
	return strings.EqualFold(plainName(rec.name), part)
}

func plainName(id string) string {
	if i := strings.LastIndexByte(id, ';'); i >= 0 {
		id = id[:i]
	}
	return strings.TrimSuffix(id, ".")
}

// readDir calls visit for each record of directory dir until visit returns false.
// Records never cross a 2048-byte sector; a zero length byte pads to the next one.
func (img *isoImage) readDir(dir isoRecord, joliet bool, visit func(isoRecord) bool) error {
	start, size, err := img.dataRange(dir)
	if err != nil {
		return err
	}
	buf := make([]byte, isoSector)
	for off := int64(0); off < size; off += isoSector {
		sector := buf[:min(isoSector, size-off)]
		if err := img.readAt(sector, start+off); err != nil {
			return err
		}
		for i := 0; i < len(sector); {
			n := int(sector[i])
			if n == 0 {
				break
			}
			if i+n > len(sector) {
				return fmt.Errorf("directory record at byte %d crosses a sector", start+off+int64(i))
			}
			rec, err := img.parseRecord(sector[i:i+n], joliet)
			if err != nil {
				return fmt.Errorf("directory record at byte %d: %w", start+off+int64(i), err)
			}
			if !visit(rec) {
				return nil
			}
			i += n
		}
	}
	return nil
}

// parseRecord decodes one directory record (b is exactly its length).
func (img *isoImage) parseRecord(b []byte, joliet bool) (isoRecord, error) {
	if len(b) < isoMinRecord {
		return isoRecord{}, fmt.Errorf("record of %d bytes is too short", len(b))
	}
	idLen := int(b[32])
	if idLen == 0 || 33+idLen > len(b) {
		return isoRecord{}, fmt.Errorf("identifier of %d bytes does not fit a %d-byte record", idLen, len(b))
	}
	rec := isoRecord{
		extAttr:  int64(b[1]),
		extent:   int64(binary.LittleEndian.Uint32(b[2:])),
		size:     int64(binary.LittleEndian.Uint32(b[10:])),
		flags:    b[25],
		unitSize: b[26],
		gap:      b[27],
	}
	id := b[33 : 33+idLen]
	if joliet && idLen > 1 {
		rec.name = decodeUCS2(id)
	} else {
		rec.name = string(id)
	}
	if img.rockRidge && !joliet {
		if sua := systemUse(b); img.suspSkip <= len(sua) {
			img.parseRockRidge(sua[img.suspSkip:], &rec)
		}
	}
	return rec, nil
}

// systemUse is the system use area of a record: after the identifier and the padding
// byte that keeps it at an even offset.
func systemUse(b []byte) []byte {
	start := 33 + int(b[32])
	if b[32]%2 == 0 {
		start++
	}
	if start >= len(b) {
		return nil
	}
	return b[start:]
}

// parseRockRidge reads the SUSP entries of area (and of the continuation areas "CE"
// points to) for the Rock Ridge name ("NM", possibly in several parts) and for "SL".
func (img *isoImage) parseRockRidge(area []byte, rec *isoRecord) {
	var name []byte
	for hop := 0; area != nil && hop <= isoMaxContinuation; hop++ {
		var next []byte
		for len(area) >= 4 {
			n := int(area[2])
			if n < 4 || n > len(area) {
				break
			}
			entry := area[:n]
			area = area[n:]
			switch string(entry[:2]) {
			case "NM":
				// Flags 0x02 and 0x04 name "." and ".."; 0x01 says more parts follow.
				if n > 5 && entry[4]&0x06 == 0 {
					name = append(name, entry[5:]...)
				}
			case "SL":
				rec.symlink = true
			case "CE":
				if n >= 28 {
					next = img.continuation(entry)
				}
			case "ST":
				area = nil
			}
		}
		area = next
	}
	rec.rrName = string(name)
}

// continuation reads the area a "CE" entry points to (block, offset, length), at most
// one block; nil when it lies outside the image.
func (img *isoImage) continuation(ce []byte) []byte {
	block := int64(binary.LittleEndian.Uint32(ce[4:]))
	off := int64(binary.LittleEndian.Uint32(ce[12:]))
	n := int64(binary.LittleEndian.Uint32(ce[20:]))
	if n == 0 || off+n > img.blockSize {
		return nil
	}
	buf := make([]byte, n)
	if img.readAt(buf, block*img.blockSize+off) != nil {
		return nil
	}
	return buf
}

// dataRange is where rec's bytes are, refused when they do not lie inside the image
// (a truncated download, or garbage).
func (img *isoImage) dataRange(rec isoRecord) (start, size int64, err error) {
	start = (rec.extent + rec.extAttr) * img.blockSize
	if start+rec.size > img.size {
		return 0, 0, fmt.Errorf("data at byte %d (%d bytes) lies beyond the end of the %d-byte image", start, rec.size, img.size)
	}
	return start, rec.size, nil
}

// readAt fills buf from off, failing on anything short.
func (img *isoImage) readAt(buf []byte, off int64) error {
	if off < 0 || off+int64(len(buf)) > img.size {
		return fmt.Errorf("byte %d lies beyond the end of the %d-byte image", off+int64(len(buf)), img.size)
	}
	if n, err := img.r.ReadAt(buf, off); n < len(buf) {
		return fmt.Errorf("read image at byte %d: %w", off, err)
	}
	return nil
}

// decodeUCS2 turns a Joliet identifier (UTF-16 big-endian) into a string.
func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
