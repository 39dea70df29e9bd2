package tftp

import (
	"bytes"
	"io"
	"testing"
)

// FuzzISO: whatever the bytes, reading an image neither panics nor hangs, and what it
// returns lies inside the image. A real image is 36 KiB at least (16 empty sectors
// before the first volume descriptor) and mostly zeros: given whole, the fuzzer spends
// its time mutating padding and minimising each new input (which costs the square of
// its length). So the fuzzer gives the sectors that matter, each separately and
// without its trailing zeros: the image is 16 empty sectors, then one 2048-byte
// sector per argument (the last one cut where its bytes end, so truncated images
// stay reachable). Each argument stays a few hundred bytes; the plain
// `go test -fuzz=FuzzISO` runs at full speed.
func FuzzISO(f *testing.F) {
	var none []byte
	for _, rr := range []bool{true, false} {
		s := fuzzSectors(synthISO(rr, fuzzSeedFiles))
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
		f.Add(s[0], s[1], s[2], s[3], s[4][:2], none)   // cut in a file's data
		f.Add(s[0], s[1], s[2][:100], none, none, none) // cut in the root directory
	}
	f.Fuzz(func(t *testing.T, s16, s17, s18, s19, s20, s21 []byte) {
		data := fuzzImage(s16, s17, s18, s19, s20, s21)
		img, err := openISO(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, name := range []string{"images/pxeboot/vmlinuz", "casper/initrd", "CASPER/INITRD", "x"} {
			r, err := img.open(name)
			if err != nil {
				continue
			}
			n, err := io.Copy(io.Discard, r)
			if err != nil || n > int64(len(data)) {
				t.Fatalf("%s: %d bytes from a %d-byte image: %v", name, n, len(data), err)
			}
		}
	})
}

// fuzzSeedFiles make a six-sector image: descriptor, terminator, root directory,
// casper/, and the two files' data.
var fuzzSeedFiles = []synthFile{
	{path: "casper/initrd", data: []byte("initrd")},
	{path: "x", data: []byte("x")},
}

// fuzzImage expands sectors 16 onwards into an image (see FuzzISO): a sector longer
// than 2048 bytes is cut, empty trailing sectors are dropped.
func fuzzImage(sectors ...[]byte) []byte {
	for len(sectors) > 0 && len(sectors[len(sectors)-1]) == 0 {
		sectors = sectors[:len(sectors)-1]
	}
	img := make([]byte, (isoFirstDescriptor+len(sectors))*isoSector)
	for i, s := range sectors {
		copy(img[(isoFirstDescriptor+i)*isoSector:(isoFirstDescriptor+i+1)*isoSector], s)
	}
	if len(sectors) > 0 {
		img = img[:len(img)-isoSector+min(isoSector, len(sectors[len(sectors)-1]))]
	}
	return img
}

// fuzzSectors is fuzzImage's inverse for a whole image: its sectors from 16 on,
// without trailing zeros, at least six of them.
func fuzzSectors(img []byte) [][]byte {
	var out [][]byte
	for off := isoFirstDescriptor * isoSector; off < len(img); off += isoSector {
		out = append(out, bytes.TrimRight(img[off:min(len(img), off+isoSector)], "\x00"))
	}
	for len(out) < 6 {
		out = append(out, nil)
	}
	return out
}

// The seeds are the images they were made from, and read as such.
func TestFuzzImageExpandsSeeds(t *testing.T) {
	for _, rr := range []bool{true, false} {
		img := synthISO(rr, fuzzSeedFiles)
		s := fuzzSectors(img)
		if len(s) != 6 {
			t.Fatalf("%d sectors, want 6", len(s))
		}
		got := fuzzImage(s...)
		// The last sector lost its trailing zeros: compare up to there.
		if !bytes.Equal(got, img[:len(got)]) || len(got) < len(img)-isoSector {
			t.Fatalf("rock ridge %v: expanded image differs from the original", rr)
		}
		iso, err := openISO(bytes.NewReader(got), int64(len(got)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fuzzSeedFiles {
			if content, err := readISOFile(t, iso, f.path); content != string(f.data) || err != nil {
				t.Errorf("rock ridge %v: %s = %q, %v", rr, f.path, content, err)
			}
		}
	}
}
