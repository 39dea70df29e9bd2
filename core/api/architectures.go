package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

type architectureJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func architectureView(a store.Architecture) architectureJSON {
	return architectureJSON{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func (a *API) listArchitectures(c echo.Context) error {
	opts, idx, err := listOptions(c, "name")
	if err != nil {
		return searchFailed(c, err)
	}
	counts, list, err := a.store.ListArchitectures(c.Request().Context(), opts)
	views := make([]architectureJSON, len(list))
	for i, x := range list {
		views[i] = architectureView(x)
	}
	return respond.Listed(c, idx, counts, views, err)
}

func (a *API) findArchitecture(c echo.Context) (store.Architecture, bool, error) {
	id, name := idParam(c, "id")
	ctx := c.Request().Context()
	var x store.Architecture
	var err error
	if name != "" {
		x, err = a.store.ArchitectureByName(ctx, name)
	} else {
		x, err = a.store.Architecture(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return x, true, respond.NotFound(c, "architecture", respond.Param(c, "id"))
	}
	return x, err != nil, err
}

func (a *API) showArchitecture(c echo.Context) error {
	x, handled, err := a.findArchitecture(c)
	if handled {
		return err
	}
	return c.JSON(http.StatusOK, architectureView(x))
}

func (a *API) createArchitecture(c echo.Context) error {
	return a.saveArchitecture(c, store.Architecture{}, http.StatusCreated)
}

func (a *API) updateArchitecture(c echo.Context) error {
	x, handled, err := a.findArchitecture(c)
	if handled {
		return err
	}
	return a.saveArchitecture(c, x, http.StatusOK)
}

func (a *API) saveArchitecture(c echo.Context, x store.Architecture, status int) error {
	var in struct {
		Name *string `json:"name"`
	}
	if handled, err := respond.DecodeBody(c, &in, "architecture"); handled {
		return err
	}
	setString(&x.Name, in.Name)
	v := &respond.Errors{}
	if x.Name == "" {
		v.Add("name", "can't be blank")
	}
	id := recordID(x.ID)
	if v.Any() {
		return respond.Unprocessable(c, id, v)
	}
	ctx := c.Request().Context()
	var err error
	if x.ID == 0 {
		err = a.store.CreateArchitecture(ctx, &x)
	} else {
		err = a.store.UpdateArchitecture(ctx, &x)
	}
	if err != nil {
		return saveFailed(c, id, err)
	}
	return c.JSON(status, architectureView(x))
}

func (a *API) destroyArchitecture(c echo.Context) error {
	x, handled, err := a.findArchitecture(c)
	if handled {
		return err
	}
	ctx := c.Request().Context()
	users, err := a.store.ArchitectureUsedBy(ctx, x.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return inUse(c, x.ID, x.Name, users)
	}
	if err := a.store.DeleteArchitecture(ctx, x.ID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, architectureView(x))
}
