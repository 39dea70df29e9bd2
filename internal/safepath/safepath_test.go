package safepath

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCleanAccepts(t *testing.T) {
	for name, want := range map[string]string{
		"pxelinux.0":                   "pxelinux.0",
		"/pxelinux.0":                  "pxelinux.0",
		"//grub2//grub.cfg":            "grub2/grub.cfg",
		"pxelinux.cfg/01-aa-bb":        "pxelinux.cfg/01-aa-bb",
		"./boot/./vmlinuz":             "boot/vmlinuz",
		"grub2/grub.cfg-aa:bb:cc":      "grub2/grub.cfg-aa:bb:cc",
		"boot/file%20with%20space.img": "boot/file%20with%20space.img",
		"/etc/passwd":                  "etc/passwd", // looked up inside the root
	} {
		got, err := Clean(name)
		if err != nil || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestCleanRefuses(t *testing.T) {
	for _, name := range []string{
		"", "/", ".", "..", "../etc/passwd", "a/../../etc/passwd", "a/..", "/..",
		`..\etc\passwd`, `boot\vmlinuz`, "a\x00b", "a\nb", "a\x7fb",
		"%2e%2e/etc/passwd", "%2E%2E%2Fetc%2Fpasswd", "..%2fetc", "%252e%252e/x", "a%00b", "a%5cb",
	} {
		if got, err := Clean(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Clean(%q) = %q, %v; want ErrInvalid", name, got, err)
		}
	}
}

func TestInside(t *testing.T) {
	root := "/srv/tftp"
	for p, want := range map[string]string{
		"boot/abc-vmlinuz":            "boot/abc-vmlinuz",
		"boot/../x":                   "x",
		"/srv/tftp/boot/file":         "boot/file",
		"./a/b/../c":                  "a/c",
		"boot/file%2e%2e-with-dots..": "boot/file%2e%2e-with-dots..",
	} {
		got, err := Inside(root, p)
		if err != nil || got != want {
			t.Errorf("Inside(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"../etc/x", "/etc/passwd", "boot/../../x", "/srv/tftpX/a", ".", "", "a/..", "a\x00b"} {
		if got, err := Inside(root, p); err == nil {
			t.Errorf("Inside(%q) = %q, want an error", p, got)
		}
	}
}

// tree builds root/ with a file, an inside symlink (relative and absolute) and
// symlinks escaping the root; outside/ holds the secret.
func tree(t *testing.T) (root, secret string) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{root + "/sub", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret = filepath.Join(outside, "secret")
	write(t, secret, "secret")
	write(t, filepath.Join(root, "sub/file"), "inside")
	links := map[string]string{
		"rel-inside":   "sub/file",
		"abs-inside":   filepath.Join(root, "sub/file"),
		"rel-outside":  "../outside/secret",
		"abs-outside":  secret,
		"dir-outside":  outside,
		"dangling":     "sub/missing",
		"sub/up-twice": "../../outside/secret",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root, secret
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFollowsLinksInside(t *testing.T) {
	root, _ := tree(t)
	for _, rel := range []string{"sub/file", "rel-inside", "abs-inside"} {
		f, err := Open(root, rel)
		if err != nil {
			t.Fatalf("Open(%q): %v", rel, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "inside" {
			t.Errorf("Open(%q) read %q", rel, b)
		}
	}
}

func TestOpenRefusesLinksOutside(t *testing.T) {
	root, _ := tree(t)
	for _, rel := range []string{"rel-outside", "abs-outside", "dir-outside/secret", "sub/up-twice"} {
		f, err := Open(root, rel)
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Fatalf("Open(%q) escaped and read %q", rel, b)
		}
		if !errors.Is(err, ErrOutside) {
			t.Errorf("Open(%q) = %v, want ErrOutside", rel, err)
		}
	}
}

func TestOpenMissing(t *testing.T) {
	root, _ := tree(t)
	for _, rel := range []string{"nope", "dangling", "sub/nope/deeper"} {
		if _, err := Open(root, rel); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want fs.ErrNotExist", rel, err)
		}
	}
}

func TestOpenDoesNotBlockOnAFIFO(t *testing.T) {
	root, _ := tree(t)
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	f, err := Open(root, "fifo") // would block forever without O_NONBLOCK
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("fifo stat %v %v", fi, err)
	}
}

// FuzzClean: an accepted name is relative, clean, free of traversal and stable.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"a/b", "/a", "../x", "a/../b", `a\b`, "%2e%2e/x", "a\x00b", "", "//", "a/./b/", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := Clean(name)
		if err != nil {
			return
		}
		if rel == "" || rel[0] == '/' || hasTraversal(rel) || strings.ContainsAny(rel, "\\\x00") {
			t.Fatalf("Clean(%q) = %q", name, rel)
		}
		if again, err := Clean(rel); err != nil || again != rel {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", name, again, err, rel)
		}
	})
}

func TestLengthLimits(t *testing.T) {
	for _, name := range []string{strings.Repeat("a", 255), "a/" + strings.Repeat("b", 255), strings.Repeat("a/", MaxPathBytes/2)} {
		if err := CheckLength(name); err != nil {
			t.Errorf("CheckLength(%.20q...): %v", name, err)
		}
	}
	for _, name := range []string{strings.Repeat("a", 256), "a/" + strings.Repeat("b", 256) + "/c", strings.Repeat("a/", MaxPathBytes/2+1)} {
		err := CheckLength(name)
		if !errors.Is(err, ErrTooLong) || strings.Contains(err.Error(), "aaaa") {
			t.Errorf("CheckLength(%.20q...) = %v, want ErrTooLong without the name", name, err)
		}
		if _, err := Clean(name); !errors.Is(err, ErrTooLong) {
			t.Errorf("Clean(%.20q...) = %v, want ErrTooLong", name, err)
		}
	}
}

// Names that cannot name a file count as missing: below a regular file, through a
// symbolic link loop (relative, or absolute, which os.Root leaves to RealRel).
func TestOpenNamesNoFile(t *testing.T) {
	root, _ := tree(t)
	for link, target := range map[string]string{"loop-a": "loop-b", "loop-b": "loop-a", "loop-abs": filepath.Join(root, "loop-abs")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"sub/file/x", "rel-inside/x", "loop-a", "loop-abs", "loop-a/x"} {
		f, err := Open(root, rel)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrOutside) {
			t.Errorf("Open(%q) = %v, want fs.ErrNotExist", rel, err)
		}
	}
}

func TestCheckStrict(t *testing.T) {
	for _, name := range []string{"boot/centos-9-abc123", "/srv/tftp/boot/x", "boot/dir/", "vmlinuz%20x", "initrd.img", "boot/a..b", "-vmlinuz"} {
		if err := CheckStrict(name); err != nil {
			t.Errorf("CheckStrict(%q): %v", name, err)
		}
	}
	for name, want := range map[string]string{
		"boot/../x":                        `".." is not allowed`,
		"boot/%2e%2e%2f%2e%2e%2fX":         `".." is not allowed`,
		"..%2f..%2fX":                      `".." is not allowed`,
		"%252e%252e/x":                     `".." is not allowed`,
		`boot\..\..\X`:                     `backslashes are not allowed`,
		"boot%5cx":                         `backslashes are not allowed`,
		"boot/x%2fy":                       `an encoded "/" is not allowed`,
		"boot/x%252Fy":                     `an encoded "/" is not allowed`,
		"boot/x\x00y":                      "control characters are not allowed",
		"boot/x%00y":                       "control characters are not allowed",
		"boot/x\ny":                        "control characters are not allowed",
		"boot/" + strings.Repeat("a", 256): "name too long: a 256-byte file name, at most 255 allowed",
	} {
		err := CheckStrict(name)
		if err == nil || err.Error() != want || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooLong)) {
			t.Errorf("CheckStrict(%.40q) = %v, want %q", name, err, want)
		}
	}
}
