// Package fileserve answers HTTP requests for files under a root directory with the
// Ruby proxy's statuses and messages. HTTP boot and the TFTP feature's system images
// share it, so both confine names by the same rules (package safepath).
package fileserve

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"syscall"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// Messages of the refusals; none quotes the name or the root.
const (
	msgNotFound   = "Not found"
	msgInvalid    = "Invalid or empty path"
	msgDirectory  = "Directory listing not allowed"
	msgNotRegular = "Not a regular file"
)

// msgTooLong states the limits (safepath.CheckLength).
var msgTooLong = fmt.Sprintf("Path too long: at most %d bytes per file name, %d in all",
	safepath.MaxSegmentBytes, safepath.MaxPathBytes)

// Serve answers GET/HEAD for name (the request's path below the route prefix) under
// root. Range and conditional requests work. A client's mistake is never a 5xx:
//   - 404 "Not found": nothing by that name, including a name that goes on below a
//     regular file (pxelinux.0/x), a symbolic link loop, an unreadable file;
//   - 403 "Invalid or empty path": the name resolves outside the root, or is the root;
//   - 403 "Directory listing not allowed";
//   - 403 "Not a regular file": a FIFO, device or socket. The name exists, but the
//     proxy will not serve it (the Ruby proxy's 503 would tell the client to retry);
//     the open never blocks and nothing is read from it;
//   - 414 "Path too long": a file name over 255 bytes, or a path no file system has.
func Serve(w http.ResponseWriter, r *http.Request, root, name string) {
	if err := safepath.CheckLength(name); err != nil {
		httpapi.Error(w, r, http.StatusRequestURITooLong, msgTooLong)
		return
	}
	// Lexically first: ".." climbing out, NUL bytes and the root itself are refused
	// before any file system access, so the reply never tells what exists outside.
	rel, err := safepath.Inside(root, "./"+name)
	if err != nil {
		httpapi.Error(w, r, http.StatusForbidden, msgInvalid)
		return
	}
	file, err := safepath.Open(root, filepath.ToSlash(rel))
	if err != nil {
		refuseOpen(w, r, rel, err)
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	switch {
	case err != nil:
		serverFault(w, r, rel, err)
	case fi.IsDir():
		httpapi.Error(w, r, http.StatusForbidden, msgDirectory)
	case !fi.Mode().IsRegular():
		httpapi.Error(w, r, http.StatusForbidden, msgNotRegular)
	default:
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), file)
	}
}

// refuseOpen answers for a file that could not be opened.
func refuseOpen(w http.ResponseWriter, r *http.Request, rel string, err error) {
	switch {
	case errors.Is(err, safepath.ErrOutside):
		httpapi.Error(w, r, http.StatusForbidden, msgInvalid)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		httpapi.Error(w, r, http.StatusNotFound, msgNotFound)
	case errors.Is(err, syscall.ENAMETOOLONG):
		httpapi.Error(w, r, http.StatusRequestURITooLong, msgTooLong)
	case errors.Is(err, syscall.ENXIO): // a Unix socket cannot be opened
		httpapi.Error(w, r, http.StatusForbidden, msgNotRegular)
	default:
		serverFault(w, r, rel, err)
	}
}

// serverFault is the proxy's own trouble (EIO, EMFILE): 500 with the system's reason
// only; the full error, root path included, goes to the log alone.
func serverFault(w http.ResponseWriter, r *http.Request, rel string, err error) {
	httpapi.Logger(r).WithError(err).Errorf("reading %s", rel)
	reason := "I/O error"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		reason = errno.Error()
	}
	httpapi.Error(w, r, http.StatusInternalServerError, "Cannot read "+rel+": "+reason)
}
