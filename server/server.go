// Package server is the Echo application: http and https listeners, per-feature route
// mounting, the trusted_hosts and client-certificate checks, root endpoints and the
// Ruby proxy's error format. Echo is used only in this package.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/httplimit"
	"github.com/smartproxy/smartproxy/internal/revocation"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// notFoundMessage is the Ruby proxy's body for unknown URLs.
const notFoundMessage = "Requested url was not found"

// Options configures a Server.
type Options struct {
	Global   *settings.Global
	Registry *registry.Registry
	Log      *logrus.Logger
	Version  string
	// Resolver answers the http trusted_hosts reverse/forward lookups (nil: the system's).
	Resolver Resolver
}

// Resolver is the DNS the trusted_hosts check uses on plain http.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Server serves the registry's features.
type Server struct {
	opts    Options
	mu      sync.Mutex
	servers []*http.Server
	errs    chan error

	httpMetrics, httpsMetrics *requestMetrics

	limits   httplimit.Settings
	gate     *httplimit.Gate // set by Start; nil in tests that use Handler only
	refusals httplimit.Refusals
}

// New builds a server; nothing listens until Start.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = logrus.StandardLogger()
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	limits := httplimit.Defaults()
	if opts.Global != nil && opts.Global.Limits.RequestTimeout > 0 {
		limits = opts.Global.Limits
	}
	return &Server{opts: opts, errs: make(chan error, 16), limits: limits,
		httpMetrics: newRequestMetrics("http"), httpsMetrics: newRequestMetrics("https")}
}

// Handler returns the application of the https (or http) listener. Tests use it with
// httptest; Start uses it for the real listeners.
func (s *Server) Handler(https bool) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(stripTrailingSlash, methodOverride(s.overrideTargets(https)))
	counted := s.httpMetrics
	if https {
		counted = s.httpsMetrics
	}
	e.Use(s.requestContext(counted))

	auth := s.authorize(https)
	body := s.bodyLimit(s.limits.MaxBodyBytes)
	e.GET("/features", s.featuresV1, body)
	e.GET("/version", s.versionInfo, body)
	e.GET("/v2/features", s.featuresV2, auth, body)
	e.GET("/metrics", s.metricsPage, auth, body)

	for _, shared := range routesByPattern(s.opts.Registry.Routes()) {
		e.Add(shared[0].Method, shared[0].Path, s.mountShared(shared, https, auth))
	}
	return e
}

// routesByPattern groups the features' routes by method and path, in registration
// order: two features may offer the same route (the relay forwards /unattended where
// templates does not run), and Echo keeps one handler per method and path.
func routesByPattern(routes []registry.FeatureRoute) [][]registry.FeatureRoute {
	var out [][]registry.FeatureRoute
	index := map[string]int{}
	for _, fr := range routes {
		key := fr.Method + " " + fr.Path
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], fr)
	}
	return out
}

// mountShared serves one method and path: the first of its features that runs and is
// enabled on this listener answers. None: the route is not mounted, 404 before the auth
// checks, as in the Ruby proxy.
func (s *Server) mountShared(shared []registry.FeatureRoute, https bool, auth echo.MiddlewareFunc) echo.HandlerFunc {
	handlers := make([]echo.HandlerFunc, len(shared))
	for i, fr := range shared {
		handlers[i] = s.routeHandler(fr, auth)
	}
	return func(c echo.Context) error {
		for i, fr := range shared {
			if s.opts.Registry.Serves(fr.Feature, https) {
				return handlers[i](c)
			}
		}
		return echo.ErrNotFound
	}
}

// routeHandler is one feature's route behind its auth checks and body limit.
func (s *Server) routeHandler(fr registry.FeatureRoute, auth echo.MiddlewareFunc) echo.HandlerFunc {
	h := func(c echo.Context) error {
		params := make(map[string]string, len(c.ParamNames()))
		for i, name := range c.ParamNames() {
			v := c.ParamValues()[i]
			if un, err := url.PathUnescape(v); err == nil {
				v = un
			}
			if name == "*" {
				name = "splat"
			} else if strings.Contains(c.ParamValues()[i], "/") {
				// Echo lets a route's last capture swallow the rest of the path;
				// a capture never spans "/" (spec conventions), so this URL is unknown.
				return echo.ErrNotFound
			}
			params[name] = v
		}
		req := httpapi.WithPathParams(c.Request(), params)
		fr.Handler(c.Response(), req)
		return nil
	}
	limit := s.limits.MaxBodyBytes
	if fr.MaxBodyBytes > 0 {
		limit = fr.MaxBodyBytes
	}
	// The body limit is innermost: nothing of the body is read before the route is
	// known, mounted and the client authorised.
	h = s.bodyLimit(limit)(h)
	if !fr.Public {
		h = auth(h)
	}
	return h
}

// errorHandler answers in the Ruby proxy's format: unknown URLs (and wrong methods,
// which Sinatra also reports as not found) get 404 "Requested url was not found".
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	msg := err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		msg = fmt.Sprint(he.Message)
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		status, msg = http.StatusNotFound, notFoundMessage
		c.Response().Header().Set("Content-Type", "application/json")
		c.Response().WriteHeader(status)
		_, _ = c.Response().Write([]byte(msg))
		return
	}
	httpapi.Error(c.Response(), c.Request(), status, msg)
}

// stripTrailingSlash makes "/dns/" and "/dns" the same route, as Sinatra's "/?" does.
func stripTrailingSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if p := req.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			req.URL.Path = strings.TrimRight(p, "/")
			if req.URL.Path == "" {
				req.URL.Path = "/"
			}
			req.URL.RawPath = ""
		}
		return next(c)
	}
}

// requestContext tags the request with its id, a logger carrying it, the Server header,
// an access log line and the listener's request metrics.
func (s *Server) requestContext(counted *requestMetrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			id := req.Header.Get("X-Request-Id")
			if id == "" {
				id = uuid.NewString()
			}
			short := id
			if len(short) > 8 {
				short = short[:8]
			}
			log := s.opts.Log.WithField("request", short)
			if sid := req.Header.Get("X-Session-Id"); sid != "" {
				log = log.WithField("session", sid)
			}
			c.SetRequest(httpapi.WithLogger(req, log))
			c.Response().Header().Set("Server", "foreman-proxy/"+s.opts.Version)
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			elapsed := time.Since(start)
			counted.observe(c.Response().Status, elapsed)
			log.Infof("%s - - \"%s %s %s\" %d %d %.4f", httpapi.ClientIP(req), req.Method, req.URL.RequestURI(), req.Proto,
				c.Response().Status, c.Response().Size, elapsed.Seconds())
			return nil
		}
	}
}

// Start opens the listeners the settings ask for on every bind_host and serves until
// Shutdown. It returns once all listeners are bound.
func (s *Server) Start() error {
	g := s.opts.Global
	if !g.HTTPSEnabled() {
		s.opts.Log.Warn("Missing SSL setup, https is disabled.")
	}
	if !g.HTTPEnabled() && !g.HTTPSEnabled() {
		return errors.New("Both http and https are disabled, unable to start.")
	}
	s.startLimits()
	var tlsConf *tls.Config
	if g.HTTPSEnabled() {
		var err error
		if tlsConf, err = tlsConfig(g, s.opts.Log); err != nil {
			return err
		}
	}
	for _, host := range g.BindHost {
		if host == "*" {
			host = ""
		}
		if g.HTTPEnabled() {
			if err := s.listen(net.JoinHostPort(host, strconv.Itoa(g.HTTPPort)), false, nil); err != nil {
				return err
			}
		}
		if tlsConf != nil {
			if err := s.listen(net.JoinHostPort(host, strconv.Itoa(g.HTTPSPort)), true, tlsConf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) listen(addr string, https bool, tlsConf *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Gated before TLS: a connection over the caps is closed before any handshake.
	ln = s.gate.Listener(ln)
	srv := &http.Server{Handler: s.Handler(https)}
	s.limits.Apply(srv)
	scheme := "http"
	if https {
		scheme = "https"
		srv.Handler = revocation.Guard(tlsConf.VerifyConnection, srv.Handler)
		srv.TLSConfig = tlsConf
		ln = tls.NewListener(ln, tlsConf)
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	s.opts.Log.Infof("Listening on %s://%s", scheme, ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- fmt.Errorf("%s listener %s: %w", scheme, addr, err)
		}
	}()
	return nil
}

// Errors reports listeners that stopped on their own.
func (s *Server) Errors() <-chan error { return s.errs }

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
