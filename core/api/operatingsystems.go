package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// Foreman's OS families (Operatingsystem.families) and PXE loaders (all_loaders).
var (
	osFamilies = []string{"AIX", "Altlinux", "Archlinux", "Coreos", "Debian", "Fcos", "Freebsd", "Gentoo",
		"Junos", "NXOS", "Rancheros", "Redhat", "Rhcos", "Solaris", "Suse", "VRP", "Windows", "Xenserver"}
	pxeLoaders = []string{"None", "PXELinux BIOS", "PXELinux UEFI", "Grub UEFI", "Grub2 BIOS", "Grub2 ELF",
		"Grub2 UEFI", "Grub2 UEFI SecureBoot", "Grub2 UEFI HTTP", "Grub2 UEFI HTTPS", "Grub2 UEFI HTTPS SecureBoot",
		"iPXE Embedded", "iPXE UEFI HTTP", "iPXE Chain BIOS", "iPXE Chain UEFI"}
)

type operatingSystemJSON struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	Title           string    `json:"title"`
	Major           string    `json:"major"`
	Minor           string    `json:"minor"`
	Family          string    `json:"family"`
	ReleaseName     string    `json:"release_name"`
	Description     string    `json:"description"`
	PXELoaders      []string  `json:"pxe_loaders"`
	ArchitectureIDs []int64   `json:"architecture_ids"`
	Architectures   []idName  `json:"architectures"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func (a *API) operatingSystemView(ctx context.Context, o store.OperatingSystem) (operatingSystemJSON, error) {
	v := operatingSystemJSON{ID: o.ID, Name: o.Name, Title: o.Title(), Major: o.Major, Minor: o.Minor, Family: o.Family,
		ReleaseName: o.ReleaseName, Description: o.Description, PXELoaders: o.PXELoaders,
		ArchitectureIDs: o.ArchitectureIDs, Architectures: []idName{}, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	for _, id := range o.ArchitectureIDs {
		x, err := a.store.Architecture(ctx, id)
		if err != nil {
			return v, err
		}
		v.Architectures = append(v.Architectures, idName{x.ID, x.Name})
	}
	return v, nil
}

type operatingSystemParams struct {
	Name            *string   `json:"name"`
	Major           *string   `json:"major"`
	Minor           *string   `json:"minor"`
	Family          *string   `json:"family"`
	ReleaseName     *string   `json:"release_name"`
	Description     *string   `json:"description"`
	PXELoaders      *[]string `json:"pxe_loaders"`
	ArchitectureIDs ids       `json:"architecture_ids"`
}

func (a *API) listOperatingSystems(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	ctx := c.Request().Context()
	counts, list, err := a.store.ListOperatingSystems(ctx, opts)
	views := make([]operatingSystemJSON, len(list))
	for i, o := range list {
		if views[i], err = a.operatingSystemView(ctx, o); err != nil {
			break
		}
	}
	return respond.Listed(c, idx, counts, views, err)
}

func (a *API) findOperatingSystem(c echo.Context) (store.OperatingSystem, bool, error) {
	id, title := idParam(c, "id")
	ctx := c.Request().Context()
	var o store.OperatingSystem
	var err error
	if title != "" {
		o, err = a.store.OperatingSystemByTitle(ctx, title)
	} else {
		o, err = a.store.OperatingSystem(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return o, true, respond.NotFound(c, "operatingsystem", respond.Param(c, "id"))
	}
	return o, err != nil, err
}

func (a *API) showOperatingSystem(c echo.Context) error {
	o, handled, err := a.findOperatingSystem(c)
	if handled {
		return err
	}
	view, err := a.operatingSystemView(c.Request().Context(), o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createOperatingSystem(c echo.Context) error {
	return a.saveOperatingSystem(c, store.OperatingSystem{}, http.StatusCreated)
}

func (a *API) updateOperatingSystem(c echo.Context) error {
	o, handled, err := a.findOperatingSystem(c)
	if handled {
		return err
	}
	o.ArchitectureIDs = nil // kept unless architecture_ids is given
	return a.saveOperatingSystem(c, o, http.StatusOK)
}

var (
	osMajor = regexp.MustCompile(`^[0-9]+$`)
	osMinor = regexp.MustCompile(`^[0-9a-zA-Z.\-]*$`)
)

func (a *API) saveOperatingSystem(c echo.Context, o store.OperatingSystem, status int) error {
	var in operatingSystemParams
	if handled, err := respond.DecodeBody(c, &in, "operatingsystem"); handled {
		return err
	}
	setString(&o.Name, in.Name)
	setString(&o.Major, in.Major)
	setString(&o.Minor, in.Minor)
	setString(&o.Family, in.Family)
	setString(&o.ReleaseName, in.ReleaseName)
	setString(&o.Description, in.Description)
	if in.PXELoaders != nil {
		o.PXELoaders = *in.PXELoaders
	}
	if in.ArchitectureIDs != nil {
		o.ArchitectureIDs = in.ArchitectureIDs
	}
	v := &respond.Errors{}
	if o.Name == "" {
		v.Add("name", "can't be blank")
	}
	switch {
	case o.Major == "":
		v.Add("major", "can't be blank")
	case !osMajor.MatchString(o.Major):
		v.Add("major", "is not a number")
	}
	if !osMinor.MatchString(o.Minor) {
		v.Add("minor", "is invalid")
	}
	if o.Family != "" && !slices.Contains(osFamilies, o.Family) {
		v.Add("family", "is not included in the list")
	}
	for _, l := range o.PXELoaders {
		if !slices.Contains(pxeLoaders, l) {
			v.Add("pxe_loaders", "%q is not a PXE loader", l)
		}
	}
	ctx := c.Request().Context()
	if err := checkAllExist(ctx, v, "architecture_ids", "architecture", o.ArchitectureIDs, a.store.Architecture); err != nil {
		return err
	}
	id := recordID(o.ID)
	if v.Any() {
		return respond.Unprocessable(c, id, v)
	}
	var err error
	if o.ID == 0 {
		err = a.store.CreateOperatingSystem(ctx, &o)
	} else {
		err = a.store.UpdateOperatingSystem(ctx, &o)
	}
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return respond.BaseError(c, id, "Operating system version already exists")
	}
	if err != nil {
		return saveFailed(c, id, err)
	}
	saved, err := a.store.OperatingSystem(ctx, o.ID)
	if err != nil {
		return err
	}
	view, err := a.operatingSystemView(ctx, saved)
	if err != nil {
		return err
	}
	return c.JSON(status, view)
}

func (a *API) destroyOperatingSystem(c echo.Context) error {
	o, handled, err := a.findOperatingSystem(c)
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.OperatingSystemUsedBy(ctx, o.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, o.ID, o.Title(), users)
	}
	view, err := a.operatingSystemView(ctx, o)
	if err != nil {
		return err
	}
	if err := a.store.DeleteOperatingSystem(ctx, o.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}
