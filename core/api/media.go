package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

type mediumJSON struct {
	ID                 int64     `json:"id"`
	Name               string    `json:"name"`
	Path               string    `json:"path"`
	OSFamily           *string   `json:"os_family"`
	OperatingSystemIDs []int64   `json:"operatingsystem_ids"`
	OperatingSystems   []idName  `json:"operatingsystems"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func (a *API) mediumView(ctx context.Context, m store.Medium) (mediumJSON, error) {
	v := mediumJSON{ID: m.ID, Name: m.Name, Path: m.Path, OperatingSystemIDs: m.OperatingSystemIDs,
		OperatingSystems: []idName{}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if m.OSFamily != "" {
		v.OSFamily = &m.OSFamily
	}
	for _, id := range m.OperatingSystemIDs {
		o, err := a.store.OperatingSystem(ctx, id)
		if err != nil {
			return v, err
		}
		v.OperatingSystems = append(v.OperatingSystems, idName{o.ID, o.Title()})
	}
	return v, nil
}

type mediumParams struct {
	Name               *string `json:"name"`
	Path               *string `json:"path"`
	OSFamily           *string `json:"os_family"`
	OperatingSystemIDs ids     `json:"operatingsystem_ids"`
}

func (a *API) listMedia(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	ctx := c.Request().Context()
	counts, list, err := a.store.ListMedia(ctx, opts)
	views := make([]mediumJSON, len(list))
	for i, m := range list {
		if views[i], err = a.mediumView(ctx, m); err != nil {
			break
		}
	}
	return respond.Listed(c, idx, counts, views, err)
}

func (a *API) findMedium(c echo.Context) (store.Medium, bool, error) {
	id, name := idParam(c, "id")
	ctx := c.Request().Context()
	var m store.Medium
	var err error
	if name != "" {
		m, err = a.store.MediumByName(ctx, name)
	} else {
		m, err = a.store.Medium(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return m, true, respond.NotFound(c, "medium", respond.Param(c, "id"))
	}
	return m, err != nil, err
}

func (a *API) showMedium(c echo.Context) error {
	m, handled, err := a.findMedium(c)
	if handled {
		return err
	}
	view, err := a.mediumView(c.Request().Context(), m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

func (a *API) createMedium(c echo.Context) error {
	return a.saveMedium(c, store.Medium{}, http.StatusCreated)
}

func (a *API) updateMedium(c echo.Context) error {
	m, handled, err := a.findMedium(c)
	if handled {
		return err
	}
	m.OperatingSystemIDs = nil // kept unless operatingsystem_ids is given
	return a.saveMedium(c, m, http.StatusOK)
}

func (a *API) saveMedium(c echo.Context, m store.Medium, status int) error {
	var in mediumParams
	if handled, err := respond.DecodeBody(c, &in, "medium"); handled {
		return err
	}
	setString(&m.Name, in.Name)
	setString(&m.Path, in.Path)
	setString(&m.OSFamily, in.OSFamily)
	if in.OperatingSystemIDs != nil {
		m.OperatingSystemIDs = in.OperatingSystemIDs
	}
	v := &respond.Errors{}
	if m.Name == "" {
		v.Add("name", "can't be blank")
	}
	switch {
	case m.Path == "":
		v.Add("path", "can't be blank")
	case !validMediumPath(m.Path):
		v.Add("path", "Only URLs with schema http://, https://, ftp:// or nfs:// are allowed (e.g. nfs://server/vol/dir)")
	}
	if m.OSFamily != "" && !slices.Contains(osFamilies, m.OSFamily) {
		v.Add("os_family", "is not included in the list")
	}
	ctx := c.Request().Context()
	if err := checkAllExist(ctx, v, "operatingsystem_ids", "operating system", m.OperatingSystemIDs, a.store.OperatingSystem); err != nil {
		return err
	}
	id := recordID(m.ID)
	if v.Any() {
		return respond.Unprocessable(c, id, v)
	}
	var err error
	if m.ID == 0 {
		err = a.store.CreateMedium(ctx, &m)
	} else {
		err = a.store.UpdateMedium(ctx, &m)
	}
	if err != nil {
		return saveFailed(c, id, err)
	}
	saved, err := a.store.Medium(ctx, m.ID)
	if err != nil {
		return err
	}
	view, err := a.mediumView(ctx, saved)
	if err != nil {
		return err
	}
	return c.JSON(status, view)
}

// validMediumPath accepts the URL schemes installers fetch trees from. $variables are
// replaced before parsing, since "$arch" is not a valid host or path character for some parsers.
func validMediumPath(p string) bool {
	u, err := url.Parse(strings.NewReplacer("$", "v", "{", "", "}", "").Replace(p))
	return err == nil && slices.Contains([]string{"http", "https", "ftp", "nfs"}, u.Scheme) && u.Host != ""
}

func (a *API) destroyMedium(c echo.Context) error {
	m, handled, err := a.findMedium(c)
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.MediumUsedBy(ctx, m.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, m.ID, m.Name, users)
	}
	view, err := a.mediumView(ctx, m)
	if err != nil {
		return err
	}
	if err := a.store.DeleteMedium(ctx, m.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}
