package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// fileLock is an flock(2) on a lock file beside a download; it excludes other
// downloads of the same file in this process and in other proxies sharing the root.
type fileLock struct {
	st  store
	rel string
	f   *os.File
}

// tryLock returns nil (and no error) when someone else holds the lock.
func tryLock(st store, rel string) (*fileLock, error) {
	r, err := st.create()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, err := r.OpenFile(rel, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", st.abs(rel), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", st.abs(rel), err)
	}
	// The holder before us removes the file when done: if we locked a removed file,
	// the path now belongs to someone else.
	held, err1 := f.Stat()
	now, err2 := r.Stat(rel)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		if errors.Is(err2, fs.ErrNotExist) || err2 == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", st.abs(rel), errors.Join(err1, err2))
	}
	return &fileLock{st: st, rel: rel, f: f}, nil
}

// release removes the lock file, then drops the lock.
func (l *fileLock) release() {
	if r, err := os.OpenRoot(l.st.root); err == nil {
		_ = r.Remove(l.rel)
		r.Close()
	}
	l.f.Close()
}
