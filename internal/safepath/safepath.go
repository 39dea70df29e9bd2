// Package safepath confines client-supplied file names to a root directory. The TFTP
// server, the TFTP REST API and HTTP boot share it so that one set of rules decides
// what "inside the root" means.
package safepath

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	// ErrInvalid marks names refused before touching the file system: empty, NUL or
	// other control bytes, backslashes, ".." segments, percent-encoded traversal.
	ErrInvalid = errors.New("invalid path")
	// ErrOutside marks names that resolve (lexically or through symlinks) outside the root.
	ErrOutside = errors.New("path outside of root")
	// ErrTooLong marks names no Linux file system can hold: a segment over
	// MaxSegmentBytes or a whole over MaxPathBytes.
	ErrTooLong = errors.New("name too long")
)

// Linux's NAME_MAX, and PATH_MAX less room for the root it is joined to.
const (
	MaxSegmentBytes = 255
	MaxPathBytes    = 3072
)

// CheckLength refuses a name (slash-separated) with a segment or a total length no file
// system path can have, before the file system is asked: the error says which limit,
// never the name.
func CheckLength(name string) error {
	if len(name) > MaxPathBytes {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrTooLong, len(name), MaxPathBytes)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if len(seg) > MaxSegmentBytes {
			return fmt.Errorf("%w: a %d-byte file name, at most %d allowed", ErrTooLong, len(seg), MaxSegmentBytes)
		}
	}
	return nil
}

// Clean turns a client-supplied name into a clean slash-separated path relative to the
// root. Leading slashes name the root itself, as with tftpd-hpa -s, so "/pxelinux.0" and
// "pxelinux.0" are the same file and "/etc/passwd" is looked up inside the root.
func Clean(name string) (string, error) {
	if err := CheckLength(name); err != nil {
		return "", err
	}
	if err := checkBytes(name); err != nil {
		return "", err
	}
	if hasTraversal(name) {
		return "", fmt.Errorf("%q: %w: parent directory reference", name, ErrInvalid)
	}
	if decoded := decodeAll(name); decoded != name && (hasTraversal(decoded) || checkBytes(decoded) != nil) {
		return "", fmt.Errorf("%q: %w: encoded traversal", name, ErrInvalid)
	}
	rel := strings.TrimLeft(path.Clean("/"+name), "/")
	if rel == "" {
		return "", fmt.Errorf("%q: %w: names no file", name, ErrInvalid)
	}
	return rel, nil
}

func checkBytes(name string) error {
	if name == "" {
		return fmt.Errorf("empty name: %w", ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '\\':
			return fmt.Errorf("%q: %w: backslash", name, ErrInvalid)
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%q: %w: control byte 0x%02x", name, ErrInvalid, c)
		}
	}
	return nil
}

// hasTraversal reports a ".." segment; Clean would hide it, so it is refused outright.
func hasTraversal(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}

// decodeAll undoes percent-encoding repeatedly (%252e%252e -> %2e%2e -> ..), so that a
// name that some layer might decode later cannot smuggle a traversal through.
func decodeAll(name string) string {
	for range 4 {
		next, err := url.PathUnescape(name)
		if err != nil || next == name {
			return name
		}
		name = next
	}
	return name
}

// Inside resolves p lexically against root (p may be absolute, and may use ".." as long
// as it stays inside) and returns it relative to root. It is the rule of the Ruby
// fetch_boot_file: expand, clean, require the root as prefix. The root itself does
// not count as inside.
func Inside(root, p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%q: %w: NUL byte", p, ErrInvalid)
	}
	root = filepath.Clean(root)
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, p)
	}
	rel, err := filepath.Rel(root, filepath.Clean(full))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%q: %w %s", p, ErrOutside, root)
	}
	return rel, nil
}

// Open opens rel (a result of Clean) read-only inside root. Symbolic links are followed
// while they stay inside: relative links through os.Root, absolute ones by resolving the
// real path, checking it against the real root and opening that through os.Root again,
// so a link swapped between check and open still cannot escape. The open never blocks
// (a FIFO in the tree would otherwise hang it): callers check the file type.
// A name that cannot name a file (a segment below a regular file, a symlink loop)
// fails with an error matching fs.ErrNotExist, as a missing file does.
func Open(root, rel string) (*os.File, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", root, err)
	}
	defer r.Close()
	f, err := openNonBlocking(r, rel)
	var errno syscall.Errno
	if err == nil || errors.As(err, &errno) {
		// The kernel's answer stands; only os.Root's refusal of a link leading out of
		// its view (an absolute link, perhaps back inside) needs a second look.
		return f, namesNoFile(err)
	}
	real, rerr := RealRel(root, rel)
	if rerr != nil {
		return nil, namesNoFile(rerr)
	}
	f, err = openNonBlocking(r, real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", rel, ErrOutside, err)
	}
	return f, nil
}

// RealRel resolves every symlink of root/rel and returns the real path relative to the
// real root, or ErrOutside when it lies elsewhere (fs.ErrNotExist when it does not exist).
func RealRel(root, rel string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realRoot, filepath.FromSlash(rel)))
	var pathErr *fs.PathError
	if err != nil && !errors.As(err, &pathErr) {
		// EvalSymlinks reports a loop as a bare "too many links" error.
		err = fmt.Errorf("%w: %w", syscall.ELOOP, err)
	}
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", rel, err)
	}
	inside, err := filepath.Rel(realRoot, real)
	if err != nil || inside == ".." || strings.HasPrefix(inside, "../") || filepath.IsAbs(inside) {
		return "", fmt.Errorf("%s resolves to %s: %w %s", rel, real, ErrOutside, realRoot)
	}
	return inside, nil
}

// openNonBlocking opens without blocking on a FIFO and without making a terminal
// device the process's controlling terminal.
func openNonBlocking(r *os.Root, rel string) (*os.File, error) {
	return r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

// namesNoFile makes "a directory in the name is a file" and "symlink loop" match
// fs.ErrNotExist too: for a client both mean there is no file by that name.
func namesNoFile(err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}
