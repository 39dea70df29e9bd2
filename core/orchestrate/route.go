package orchestrate

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// taskRunJSON is GET /api/v2/hosts/:id/tasks.
type taskRunJSON struct {
	Host      string       `json:"host"`
	Operation string       `json:"operation"`
	Tasks     []store.Task `json:"tasks"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// Mount adds GET /api/v2/hosts/:id/tasks and /api/hosts/:id/tasks (behind
// requireUser): the task list of the host's last orchestration run. :id is a host id
// or name; a name also finds the run of a create that failed (no host was saved).
func (o *Orchestrator) Mount(e *echo.Echo, requireUser echo.MiddlewareFunc) {
	for _, prefix := range []string{"/api/v2", "/api"} {
		e.GET(prefix+"/hosts/:id/tasks", o.showTasks, requireUser)
	}
}

func (o *Orchestrator) showTasks(c echo.Context) error {
	ctx := c.Request().Context()
	raw := c.Param("id")
	name := strings.ToLower(raw)
	if id, err := strconv.ParseInt(raw, 10, 64); err == nil {
		if h, err := o.store.Host(ctx, id); err == nil {
			name = h.Name
		}
	}
	run, err := o.store.TaskRun(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "host", raw)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskRunJSON{Host: run.HostName, Operation: run.Operation, Tasks: run.Tasks, UpdatedAt: run.UpdatedAt})
}
