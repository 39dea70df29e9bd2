package tftp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/fileserve"
	"github.com/smartproxy/smartproxy/internal/safepath"
)

// systemImage is one fetch_system_image request: an installation ISO to download into
// system_image_root and the files to extract from it into tftproot.
type systemImage struct {
	url      string
	images   store  // system_image_root
	image    string // the ISO, relative to images
	tftp     store  // tftproot
	extracts []extract
}

// extract is a path inside the ISO and where it goes, relative to tftproot.
type extract struct{ from, to string }

// fetchSystemImage is POST /tftp/fetch_system_image (spec §10): 200 when the image and
// every extracted file exist, else 202 and the download and extraction run in the
// background. Foreman polls until it gets 200.
func (f *Feature) fetchSystemImage(w http.ResponseWriter, r *http.Request) {
	const failed = "TFTP: Failed to fetch system image: "
	p := httpapi.Params(r)
	// Foreman's client sends files[]=a&files[]=b; plain repeated files=a also works.
	files := append(append([]string(nil), p["files[]"]...), p["files"]...)
	src, dst, tftpPath := p.Get("url"), p.Get("path"), p.Get("tftp_path")
	if src == "" || dst == "" || tftpPath == "" || len(files) == 0 {
		httpapi.Error(w, r, http.StatusBadRequest, "TFTP: Wrong input parameters given: url, path, tftp_path and files[] are required")
		return
	}
	job, err := f.planSystemImage(src, dst, tftpPath, files)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, failed+err.Error())
		return
	}
	if job.complete() {
		httpapi.Empty(w)
		return
	}
	var started bool
	sh, err := f.etcd()
	switch {
	case err != nil:
	case sh != nil:
		req := fetchRequest{URL: src, Path: dst, TFTPPath: tftpPath, Files: files}
		started, err = sh.shareFetch("image", job.image, req, func(run fetchRun) (bool, error) { return sh.startImage(job, run) })
	default:
		started, err = f.fetcher.background(job.images, job.image, func() { _ = job.run(f.fetcher, f.log) })
	}
	if err != nil {
		f.apiError(w, r, failed, err)
		return
	}
	if !started {
		httpapi.Error(w, r, http.StatusBadRequest, failed+"download and extraction of "+job.images.abs(job.image)+" is still in progress")
		return
	}
	httpapi.Logger(r).Infof("TFTP: fetching system image %s to %s", src, job.images.abs(job.image))
	w.WriteHeader(http.StatusAccepted)
}

// planSystemImage checks every path before anything is touched: the image must stay in
// system_image_root, tftp_path in tftproot, and files[] are plain paths inside the ISO
// (a leading "/" is the ISO's root, as Foreman sends them). Each file is extracted to
// <tftp_path>-<its name>, the name fetch_boot_file gives it.
func (f *Feature) planSystemImage(src, dst, tftpPath string, files []string) (systemImage, error) {
	if u, err := url.Parse(src); err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return systemImage{}, fmt.Errorf("Cannot fetch system image, unknown protocol for url: %s", src)
	}
	job := systemImage{url: src, images: store{root: f.cfg.imageRoot}, tftp: f.store}
	var err error
	if job.image, err = confine(f.cfg.imageRoot, dst); err != nil {
		return systemImage{}, fmt.Errorf("path %q is not inside system_image_root %s", dst, f.cfg.imageRoot)
	}
	dir, err := confine(f.cfg.root, tftpPath)
	if err != nil {
		return systemImage{}, fmt.Errorf("tftp_path %q is not inside tftproot %s", tftpPath, f.cfg.root)
	}
	if strings.HasSuffix(tftpPath, "/") {
		dir += "/"
	}
	// Foreman's PXE templates name the kernel <tftp_path>-vmlinuz, as for fetch_boot_file.
	from := map[string]string{} // destination -> ISO path
	for _, file := range files {
		inISO, err := safepath.Clean(file)
		if err != nil {
			return systemImage{}, fmt.Errorf("files[] entry %q is not a path inside the image", file)
		}
		to := bootFilename(dir, inISO)
		if other, ok := from[to]; ok {
			if other == inISO {
				continue
			}
			return systemImage{}, fmt.Errorf("files[] entries %q and %q would both be extracted to %s", other, inISO, to)
		}
		from[to] = inISO
		job.extracts = append(job.extracts, extract{from: inISO, to: to})
	}
	return job, nil
}

// confine turns a client-supplied path into one relative to root: "..", NUL, control
// bytes, backslashes and encoded separators are refused outright (safepath.CheckStrict),
// and an absolute path only passes when it lies inside root (rather than being
// silently re-rooted).
func confine(root, p string) (string, error) {
	if err := safepath.CheckStrict(p); err != nil {
		return "", err
	}
	clean, err := safepath.Clean(p)
	if err != nil || !strings.HasPrefix(p, "/") {
		return clean, err
	}
	rel, err := safepath.Inside(root, p)
	if err != nil {
		return "", err
	}
	return safepath.Clean(rel)
}

// complete reports whether the image and every extracted file are in place. They are
// only ever renamed into place whole, so existing means finished.
func (j systemImage) complete() bool {
	if !j.images.isFile(j.image) {
		return false
	}
	for _, x := range j.extracts {
		if !j.tftp.isFile(x.to) {
			return false
		}
	}
	return true
}

// run downloads the image (only when the remote one is newer, like boot files) and
// extracts the files; outcomes are logged, as for fetch_boot_file.
func (j systemImage) run(ft *fetcher, log *logrus.Entry) error {
	if err := ft.run(j.images, j.image, j.url); err != nil {
		return err // logged by the fetcher
	}
	if err := j.extractAll(ft.ctx, log); err != nil {
		log.Errorf("TFTP: extracting from %s: %v", j.images.abs(j.image), err)
		return err
	}
	return nil
}

// extractAll copies each requested file out of the ISO. Only the requested paths are
// looked up and the destination comes from the request, never from names in the
// image, so a crafted ISO cannot place files anywhere else.
func (j systemImage) extractAll(ctx context.Context, log *logrus.Entry) error {
	r, err := j.images.open()
	if err != nil {
		return err
	}
	defer r.Close()
	file, err := r.Open(j.image)
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return err
	}
	iso, err := openISO(file, fi.Size())
	if err != nil {
		return err
	}
	var errs []error
	for _, x := range j.extracts {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		content, err := iso.open(x.from)
		if err == nil {
			err = j.tftp.writeFrom(x.to, content)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Infof("TFTP: extracted %s from %s to %s", x.from, j.images.abs(j.image), j.tftp.abs(x.to))
	}
	return errors.Join(errs...)
}

// serveSystemImage is GET/HEAD /tftp/system_image/*: files under system_image_root,
// confined as HTTP boot's are. Public, as in the Ruby proxy: installers on hosts being
// built fetch the ISO from here.
func (f *Feature) serveSystemImage(w http.ResponseWriter, r *http.Request) {
	fileserve.Serve(w, r, f.cfg.imageRoot, httpapi.PathParam(r, "splat"))
}
