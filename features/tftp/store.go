package tftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// store reads and writes files under tftproot through os.Root, so neither a MAC nor a
// symlink planted in the tree can make the API write outside the root.
type store struct {
	root string
}

var tempCounter atomic.Uint64

// create returns the root, creating its directory first as the Ruby proxy's mkdir_p
// does; writes use it.
func (s store) create() (*os.Root, error) {
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, fmt.Errorf("create tftproot %s: %w", s.root, err)
	}
	return s.open()
}

// open returns the existing root; a missing root is fs.ErrNotExist (wrapped).
func (s store) open() (*os.Root, error) {
	r, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, fmt.Errorf("open tftproot %s: %w", s.root, err)
	}
	return r, nil
}

// abs is how a file is named in messages: the full path, as the Ruby proxy reports it.
func (s store) abs(rel string) string { return filepath.Join(s.root, filepath.FromSlash(rel)) }

// write replaces rel atomically (temp file + rename) so the TFTP server never serves a
// half-written config; an existing file keeps its permissions.
func (s store) write(rel string, data []byte) error {
	return s.writeFrom(rel, bytes.NewReader(data))
}

// writeFrom is write with the content streamed from src (files extracted from an ISO).
// A process killed mid-way leaves a .tmp file beside rel, never a half file named rel.
func (s store) writeFrom(rel string, src io.Reader) error {
	r, err := s.create()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", s.abs(rel), err)
	}
	mode := fs.FileMode(0o644)
	if fi, err := r.Stat(rel); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	tmp := path.Join(path.Dir(rel), "."+path.Base(rel)+"."+strconv.FormatInt(time.Now().UnixNano(), 36)+
		strconv.FormatUint(tempCounter.Add(1), 36)+".tmp")
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", s.abs(rel), err)
	}
	_, werr := io.Copy(f, src)
	merr := f.Chmod(mode) // O_CREATE applied the umask
	cerr := f.Close()
	if err := errors.Join(werr, merr, cerr); err != nil {
		_ = r.Remove(tmp)
		return fmt.Errorf("write %s: %w", s.abs(rel), err)
	}
	if err := r.Rename(tmp, rel); err != nil {
		_ = r.Remove(tmp)
		return fmt.Errorf("write %s: %w", s.abs(rel), err)
	}
	return nil
}

// read returns the content of rel; a missing file is fs.ErrNotExist.
func (s store) read(rel string) ([]byte, error) {
	r, err := s.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(rel)
}

// remove deletes rel; a file that is already gone is not an error.
func (s store) remove(rel string) error {
	r, err := s.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", s.abs(rel), err)
	}
	return nil
}

// removeAll deletes the tree rel; a missing tree is not an error.
func (s store) removeAll(rel string) error {
	r, err := s.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.RemoveAll(rel); err != nil {
		return fmt.Errorf("remove %s: %w", s.abs(rel), err)
	}
	return nil
}

// symlink makes link point at target (both relative to the root) with a relative link,
// replacing whatever link was there.
func (s store) symlink(target, link string) error {
	r, err := s.create()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(path.Dir(link), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", s.abs(link), err)
	}
	rel, err := filepath.Rel(path.Dir(link), target)
	if err != nil {
		return fmt.Errorf("link %s to %s: %w", s.abs(link), target, err)
	}
	if err := r.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", s.abs(link), err)
	}
	if err := r.Symlink(filepath.ToSlash(rel), link); err != nil {
		return fmt.Errorf("link %s to %s: %w", s.abs(link), target, err)
	}
	return nil
}

// stat describes rel inside the root (symlinks followed, still confined).
func (s store) stat(rel string) (fs.FileInfo, error) {
	r, err := s.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Stat(rel)
}

// isDir reports whether rel is a directory inside the root.
func (s store) isDir(rel string) bool {
	fi, err := s.stat(rel)
	return err == nil && fi.IsDir()
}

// isFile reports whether rel is a regular file inside the root.
func (s store) isFile(rel string) bool {
	fi, err := s.stat(rel)
	return err == nil && fi.Mode().IsRegular()
}

// list returns the names in directory rel (nil when it does not exist).
func (s store) list(rel string) []string {
	r, err := s.open()
	if err != nil {
		return nil
	}
	defer r.Close()
	d, err := r.Open(rel)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return names
}
