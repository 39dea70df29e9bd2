package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/httpapi"
)

// featuresV1 is GET /features: running features, sorted.
func (s *Server) featuresV1(c echo.Context) error {
	httpapi.JSON(c.Response(), http.StatusOK, s.opts.Registry.Running())
	return nil
}

// versionInfo is GET /version.
func (s *Server) versionInfo(c echo.Context) error {
	httpapi.JSON(c.Response(), http.StatusOK, versionReply{Version: s.opts.Version, Modules: s.opts.Registry.Versions()})
	return nil
}

// versionReply keeps the Ruby proxy's key order.
type versionReply struct {
	Version string            `json:"version"`
	Modules map[string]string `json:"modules"`
}

// featuresV2 is GET /v2/features: every feature with its state, settings and capabilities.
func (s *Server) featuresV2(c echo.Context) error {
	httpapi.JSON(c.Response(), http.StatusOK, s.opts.Registry.Info(c.Request().Context()))
	return nil
}
