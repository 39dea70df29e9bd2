package tftp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// fetchBootFile is POST /tftp/fetch_boot_file: download a kernel or initrd into tftproot
// in the background. The reply does not wait; the outcome is in the log. The prefix and
// the file name the URL ends with must pass safepath.CheckStrict: a name that only
// some decoding turns into a traversal is refused, not stored under an odd name.
func (f *Feature) fetchBootFile(w http.ResponseWriter, r *http.Request) {
	const failed = "TFTP: Failed to fetch boot file: "
	p := httpapi.Params(r)
	prefix, hasPrefix := firstOf(p, "prefix")
	src, hasPath := firstOf(p, "path")
	if !hasPrefix || !hasPath {
		httpapi.Error(w, r, http.StatusBadRequest, failed+"the prefix and path parameters are required")
		return
	}
	if err := safepath.CheckStrict(prefix); err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, fmt.Sprintf("%sinvalid prefix %q: %v", failed, prefix, err))
		return
	}
	if name := lastSegment(src); name != "" {
		if err := safepath.CheckStrict(name); err != nil {
			httpapi.Error(w, r, http.StatusBadRequest, fmt.Sprintf("%sinvalid file name %q at the end of path %q: %v", failed, name, src, err))
			return
		}
	}
	rel, err := safepath.Inside(f.cfg.root, bootFilename(prefix, src))
	if err != nil {
		msg := "TFTP destination outside of tftproot"
		if errors.Is(err, safepath.ErrInvalid) {
			msg = err.Error()
		}
		httpapi.Error(w, r, http.StatusBadRequest, failed+msg)
		return
	}
	u, err := url.Parse(src)
	scheme := ""
	if err == nil {
		scheme = strings.ToLower(u.Scheme)
	}
	log := httpapi.Logger(r)
	switch scheme {
	case "http", "https", "ftp":
		var started bool
		sh, err := f.etcd()
		switch {
		case err != nil:
		case sh != nil:
			started, err = sh.shareFetch("boot", rel, fetchRequest{URL: src}, func(run fetchRun) (bool, error) { return sh.startBoot(rel, src, run) })
		default:
			started, err = f.fetcher.start(f.store, rel, src)
		}
		if err != nil {
			f.apiError(w, r, failed, err)
			return
		}
		if !started {
			log.Infof("TFTP: %s is already being downloaded, request ignored", f.store.abs(rel))
		}
	case "nfs":
		log.Debugf("TFTP: NFS as a protocol for installation medium detected, nothing to fetch for %s", src)
	default:
		httpapi.Error(w, r, http.StatusBadRequest, failed+"Cannot fetch boot file, unknown protocol for medium source path: "+src)
		return
	}
	httpapi.Empty(w)
}

// bootFilename is prefix-<last segment of src>, or prefix<segment> when prefix is a
// directory (ends with "/"): Foreman sends boot/<medium id> and gets boot/<id>-vmlinuz.
func bootFilename(prefix, src string) string {
	last := lastSegment(src)
	if strings.HasSuffix(prefix, "/") {
		return prefix + last
	}
	return prefix + "-" + last
}

// lastSegment is what follows the last "/" of src, trailing slashes ignored: the part
// of the download URL that becomes part of the file name.
func lastSegment(src string) string {
	last := strings.TrimRight(src, "/")
	if i := strings.LastIndex(last, "/"); i >= 0 {
		last = last[i+1:]
	}
	return last
}
