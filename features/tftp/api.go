package tftp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// resolve checks the MAC (when the route has one) and then the variant, in the Ruby
// proxy's order, answering 403 for either. Legacy routes without a variant mean syslinux.
// Both come from the path only, never from form fields of the same name.
func resolve(w http.ResponseWriter, r *http.Request, withMAC bool) (variant, string, bool) {
	mac := httpapi.PathParam(r, "mac")
	if withMAC && !validMAC(mac) {
		httpapi.Error(w, r, http.StatusForbidden, "Invalid MAC address: "+mac)
		return variant{}, "", false
	}
	name := httpapi.PathParam(r, "variant")
	if name == "" {
		name = "syslinux"
	}
	v, ok := lookupVariant(name)
	if !ok {
		httpapi.Error(w, r, http.StatusForbidden, "Unrecognized pxeboot config type: "+name)
		return variant{}, "", false
	}
	return v, mac, true
}

// lockHost takes the per-MAC lock for a request that changes the host's files, or
// answers 409 when another request for the MAC is still at it.
func (f *Feature) lockHost(w http.ResponseWriter, r *http.Request, mac string) (unlock func(), ok bool) {
	unlock, ok = f.hosts.tryLock(mac)
	if !ok {
		httpapi.Error(w, r, http.StatusConflict, "TFTP: Host configuration is already being updated for "+hostKey(mac))
	}
	return unlock, ok
}

// setConfig is POST /tftp/:variant/:mac (and legacy POST /tftp/:mac): write the host's
// config files from pxeconfig (or the older syslinux_config).
func (f *Feature) setConfig(w http.ResponseWriter, r *http.Request) {
	const failed = "TFTP: Failed to create pxe config file: "
	p := httpapi.Params(r)
	v, mac, ok := resolve(w, r, true)
	if !ok {
		return
	}
	unlock, ok := f.lockHost(w, r, mac)
	if !ok {
		return
	}
	defer unlock()
	content, ok := firstOf(p, "pxeconfig", "syslinux_config")
	if !ok {
		httpapi.Error(w, r, http.StatusBadRequest, failed+"Invalid parameters received")
		return
	}
	boot, withBoot, err := bootloaderFrom(p)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, failed+err.Error())
		return
	}
	sh, err := f.etcd()
	switch {
	case err != nil:
	case sh != nil:
		err = sh.setHost(v, mac, newHostValue(content, boot, withBoot))
	default:
		err = f.writeHost(v, mac, content, boot, withBoot)
	}
	if err != nil {
		f.apiError(w, r, failed, err)
		return
	}
	httpapi.Logger(r).Infof("TFTP: %s config for %s written", v.name, mac)
	httpapi.Empty(w)
}

// getConfig is GET /tftp/:variant/:mac: the first of the variant's files.
func (f *Feature) getConfig(w http.ResponseWriter, r *http.Request) {
	v, mac, ok := resolve(w, r, true)
	if !ok {
		return
	}
	rel := v.hostFiles(mac)[0]
	data, err := f.store.read(rel)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("File %s not found", f.store.abs(rel))
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotFound, "TFTP: Failed to retrieve pxe config file: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// deleteConfig is DELETE /tftp/:variant/:mac (and legacy DELETE /tftp/:mac); files that
// are already gone are fine.
func (f *Feature) deleteConfig(w http.ResponseWriter, r *http.Request) {
	const failed = "TFTP: Failed to delete pxe config file: "
	v, mac, ok := resolve(w, r, true)
	if !ok {
		return
	}
	unlock, ok := f.lockHost(w, r, mac)
	if !ok {
		return
	}
	defer unlock()
	sh, err := f.etcd()
	switch {
	case err != nil:
	case sh != nil:
		err = sh.deleteHost(v, mac)
	default:
		err = f.removeHost(v, mac)
	}
	if err != nil {
		f.apiError(w, r, failed, err)
		return
	}
	httpapi.Logger(r).Infof("TFTP: %s config for %s removed", v.name, mac)
	httpapi.Empty(w)
}

// createDefault is POST /tftp/:variant/create_default (and legacy /tftp/create_default).
func (f *Feature) createDefault(w http.ResponseWriter, r *http.Request) {
	const failed = "TFTP: Failed to create PXE default file: "
	p := httpapi.Params(r)
	v, _, ok := resolve(w, r, false)
	if !ok {
		return
	}
	menu, ok := firstOf(p, "menu")
	if !ok {
		httpapi.Error(w, r, http.StatusBadRequest, failed+"Default config not supplied")
		return
	}
	sh, err := f.etcd()
	switch {
	case err != nil:
	case sh != nil:
		err = sh.setDefault(v, menu)
	default:
		err = f.writeDefault(v, menu)
	}
	if err != nil {
		f.apiError(w, r, failed, err)
		return
	}
	httpapi.Logger(r).Infof("TFTP: %s default menu written", v.name)
	httpapi.Empty(w)
}

// writeHost writes the host's config files of variant v (and, for pxegrub2 with the
// bootloader fields, its host-config tree).
func (f *Feature) writeHost(v variant, mac, content string, boot bootloader, withBoot bool) error {
	for _, rel := range v.hostFiles(mac) {
		if err := f.store.write(rel, []byte(content)); err != nil {
			return err
		}
	}
	if withBoot && v.name == "pxegrub2" {
		return f.setupHostConfig(mac, []byte(content), boot)
	}
	return nil
}

// removeHost removes the host's config files of variant v; missing ones are fine.
func (f *Feature) removeHost(v variant, mac string) error {
	for _, rel := range v.hostFiles(mac) {
		if err := f.store.remove(rel); err != nil {
			return err
		}
	}
	if v.name == "pxegrub2" {
		return f.store.removeAll(hostConfigDir(mac))
	}
	return nil
}

// writeDefault writes the default menu files of variant v.
func (f *Feature) writeDefault(v variant, menu string) error {
	for _, rel := range v.defaults {
		if err := f.store.write(rel, []byte(menu)); err != nil {
			return err
		}
	}
	return nil
}

// apiError answers a failed write: 503 when the shared state (etcd) has no quorum,
// else 400 as the Ruby proxy answers I/O errors.
func (f *Feature) apiError(w http.ResponseWriter, r *http.Request, failed string, err error) {
	if errors.Is(err, etcdstate.ErrUnavailable) {
		httpapi.Logger(r).Errorf("%s%v", failed, err)
		httpapi.Error(w, r, http.StatusServiceUnavailable, failed+err.Error())
		return
	}
	httpapi.Error(w, r, http.StatusBadRequest, failed+err.Error())
}

// serverNameReply is GET /tftp/serverName.
func (f *Feature) serverNameReply(w http.ResponseWriter, _ *http.Request) {
	httpapi.JSON(w, http.StatusOK, map[string]string{"serverName": f.cfg.serverName})
}

// firstOf returns the first of keys present in p (an empty value counts as present,
// as a Ruby nil check would).
func firstOf(p url.Values, keys ...string) (string, bool) {
	for _, k := range keys {
		if vs, ok := p[k]; ok && len(vs) > 0 {
			return vs[0], true
		}
	}
	return "", false
}
