// Package logs is the logs feature (spec §5.7): the in-memory log buffer and the
// modules that failed to start, for Foreman's proxy log view.
package logs

import (
	"net/http"
	"strconv"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// Feature serves GET /logs.
type Feature struct {
	buffer *logging.Buffer
}

var (
	_ registry.Feature        = (*Feature)(nil)
	_ registry.DefaultEnabler = (*Feature)(nil)
)

// New serves buffer.
func New(buffer *logging.Buffer) *Feature { return &Feature{buffer: buffer} }

func (*Feature) Name() string { return "logs" }

// DefaultEnabled: logs is the one feature on when its file says nothing.
func (*Feature) DefaultEnabled() settings.Enabled { return settings.EnabledBoth }

// Configure: logs has no settings of its own (buffer sizes are global).
func (*Feature) Configure(*registry.Env) error { return nil }

func (f *Feature) Routes() []registry.Route {
	return []registry.Route{{Method: http.MethodGet, Path: "/logs", Handler: f.list}}
}

type info struct {
	Size          int               `json:"size"`
	TailSize      int               `json:"tail_size"`
	Level         *string           `json:"level"`
	LevelTail     int               `json:"level_tail"`
	FailedModules map[string]string `json:"failed_modules"`
}

type reply struct {
	Info info            `json:"info"`
	Logs []logging.Entry `json:"logs"`
}

// list is GET /logs?from_timestamp=<epoch seconds>; a missing or invalid value means 0.
func (f *Feature) list(w http.ResponseWriter, r *http.Request) {
	from, err := strconv.ParseFloat(httpapi.Params(r).Get("from_timestamp"), 64)
	if err != nil {
		from = 0
	}
	size, tail := f.buffer.Sizes()
	httpapi.JSON(w, http.StatusOK, reply{
		Info: info{Size: size, TailSize: tail, LevelTail: 3, FailedModules: f.buffer.FailedModules()},
		Logs: f.buffer.Since(from),
	})
}
