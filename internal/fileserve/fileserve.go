// Package fileserve answers HTTP requests for files under a root directory with the
// Ruby proxy's statuses and messages. HTTP boot and the TFTP feature's system images
// share it, so both confine names by the same rules (package safepath).
package fileserve

import (
	"errors"
	"io/fs"
	"net/http"
	"path/filepath"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// Serve answers GET/HEAD for name (the request's path below the route prefix) under
// root: 404 "Not found", 403 "Invalid or empty path" for anything resolving outside
// the root (or the root itself), 403 "Directory listing not allowed", 503 "Not a
// regular file". Range and conditional requests work.
func Serve(w http.ResponseWriter, r *http.Request, root, name string) {
	// Lexically first: ".." climbing out, NUL bytes and the root itself are refused
	// before any file system access, so the reply never tells what exists outside.
	rel, err := safepath.Inside(root, "./"+name)
	if err != nil {
		httpapi.Error(w, r, http.StatusForbidden, "Invalid or empty path")
		return
	}
	file, err := safepath.Open(root, filepath.ToSlash(rel))
	switch {
	case errors.Is(err, safepath.ErrOutside):
		httpapi.Error(w, r, http.StatusForbidden, "Invalid or empty path")
		return
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		httpapi.Error(w, r, http.StatusNotFound, "Not found")
		return
	case err != nil:
		httpapi.Error(w, r, http.StatusInternalServerError, "Cannot read "+rel+": "+err.Error())
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	switch {
	case err != nil:
		httpapi.Error(w, r, http.StatusInternalServerError, "Cannot read "+rel+": "+err.Error())
	case fi.IsDir():
		httpapi.Error(w, r, http.StatusForbidden, "Directory listing not allowed")
	case !fi.Mode().IsRegular():
		httpapi.Error(w, r, http.StatusServiceUnavailable, "Not a regular file")
	default:
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), file)
	}
}
