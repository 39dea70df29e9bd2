package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/httplimit"
)

// startLimits raises the open-files limit, derives the connection cap from it when
// max_connections is unset, and makes the gate every listener shares.
func (s *Server) startLimits() {
	log := s.opts.Log
	files, err := httplimit.RaiseFileLimit()
	if err != nil {
		log.Warnf("Could not raise the open files limit (soft %d, hard %d): %v", files.Soft, files.Hard, err)
	}
	s.limits = s.limits.Resolve(files.Soft)
	if files.SoftBefore != files.Soft {
		log.Infof("Open files limit: soft %d (raised from %d), hard %d", files.Soft, files.SoftBefore, files.Hard)
	} else {
		log.Infof("Open files limit: soft %d, hard %d", files.Soft, files.Hard)
	}
	if budget := httplimit.ConnectionBudget(files.Soft); s.limits.MaxConnections > budget {
		log.Warnf("max_connections %d is over the %d the open files limit %d allows: a connection flood can leave the embedded DHCP, TFTP and DNS servers without file descriptors",
			s.limits.MaxConnections, budget, files.Soft)
	}
	log.Infof("HTTP limits: %s", s.limits)
	s.gate = httplimit.NewGate(s.limits)
}

// bodyLimit bounds a route's body to limit bytes and reads its form, so a handler
// only runs with a body within its limits; refusals are answered in plain text and
// counted in /metrics.
func (s *Server) bodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			refused := httplimit.LimitBody(c.Response().Writer, req, limit)
			if refused == nil {
				refused = httplimit.ReadForm(req)
			}
			if refused != nil {
				s.refusals.Count(refused)
				httpapi.Error(c.Response(), req, refused.Status, refused.Message)
				return nil
			}
			return next(c)
		}
	}
}

// overridePeekBytes bounds what methodOverride reads before routing: a "_method"
// form is a few fields, and an unauthenticated client must not make the proxy hold
// more than this per connection.
const overridePeekBytes = 64 << 10

// errOverridable marks a path that has a route for a method a form can ask for.
var errOverridable = errors.New("route takes _method")

// overrideTargets is a router of the DELETE, PUT and PATCH routes mounted on this
// listener: the only requests where reading a POST's form for "_method" can change
// anything.
func (s *Server) overrideTargets(https bool) *echo.Echo {
	e := echo.New()
	for _, fr := range s.opts.Registry.Routes() {
		switch fr.Method {
		case http.MethodDelete, http.MethodPut, http.MethodPatch:
			feature := fr.Feature
			e.Add(fr.Method, fr.Path, func(c echo.Context) error {
				for i, name := range c.ParamNames() {
					if name != "*" && strings.Contains(c.ParamValues()[i], "/") {
						return echo.ErrNotFound // a capture never spans "/" (see Handler)
					}
				}
				if !s.opts.Registry.Serves(feature, https) {
					return echo.ErrNotFound
				}
				return errOverridable
			})
		}
	}
	return e
}

// overridable reports whether method has a route at path.
func overridable(targets *echo.Echo, method, path string) bool {
	c := targets.NewContext(nil, discardWriter{http.Header{}})
	targets.Router().Find(method, path, c)
	return c.Handler()(c) == errOverridable
}

// discardWriter takes the Allow header echo's 405 handler sets while probing.
type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}

// methodOverride honours a form "_method" on POST (Rack MethodOverride), which Foreman's
// older clients use for DELETE. It runs before routing, so it reads a body only for a
// path that has a route for the method asked, and at most overridePeekBytes of it;
// what it read is put back for the route's handler.
func methodOverride(targets *echo.Echo) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Method != http.MethodPost || !httplimit.IsForm(req) || req.Body == nil || req.Body == http.NoBody {
				return next(c)
			}
			path := echo.GetPath(req)
			if !overridable(targets, http.MethodDelete, path) && !overridable(targets, http.MethodPut, path) &&
				!overridable(targets, http.MethodPatch, path) {
				return next(c)
			}
			peek, err := io.ReadAll(io.LimitReader(req.Body, overridePeekBytes+1))
			req.Body = readCloser{io.MultiReader(bytes.NewReader(peek), errReader{err}, req.Body), req.Body}
			if err != nil || len(peek) > overridePeekBytes {
				return next(c) // the route's handler meets the error, or the full form
			}
			if form, err := url.ParseQuery(string(peek)); err == nil {
				if m := strings.ToUpper(form.Get("_method")); m == http.MethodDelete || m == http.MethodPut || m == http.MethodPatch {
					req.Method = m
				}
			}
			return next(c)
		}
	}
}

// readCloser puts back what was read ahead of the rest of the body.
type readCloser struct {
	io.Reader
	io.Closer
}

// errReader replays a read error met while peeking (nil: reads nothing).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}
