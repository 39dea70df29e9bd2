// Package api is foreman-core's REST API: Foreman's JSON routes at /api/v2/... and
// /api/... (the same handlers), thin over core/store. Users authenticate through
// core/auth; calls to smart proxies go through core/proxies; what a host change means
// on the proxies is the Orchestrator's job (issue 12).
package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// Options are the API's collaborators.
type Options struct {
	Store        *store.Store
	Auth         *auth.Authenticator
	Proxies      *proxies.Client
	Orchestrator Orchestrator // nil = NoOrchestrator: hosts are stored only
	Log          logrus.FieldLogger
}

// API holds the handlers' collaborators.
type API struct {
	store   *store.Store
	auth    *auth.Authenticator
	proxies *proxies.Client
	orch    Orchestrator
	log     logrus.FieldLogger
}

// New builds the Echo application with every route mounted under /api/v2 and /api.
func New(opts Options) *echo.Echo {
	a := &API{store: opts.Store, auth: opts.Auth, proxies: opts.Proxies, orch: opts.Orchestrator, log: opts.Log}
	if a.orch == nil {
		a.orch = NoOrchestrator{}
	}
	if a.log == nil {
		a.log = logrus.StandardLogger()
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = a.handleError
	e.IPExtractor = func(r *http.Request) string { return a.auth.ClientIP(r) }
	e.Use(a.logRequest)
	for _, prefix := range []string{"/api/v2", "/api"} {
		a.mount(e.Group(prefix))
	}
	return e
}

// mount adds the routes to one prefix; they all need a user. (The routes Puppet servers
// call with their certificate, facts included, are core/puppet's.)
func (a *API) mount(g *echo.Group) {
	u := g.Group("", a.auth.RequireUser())
	u.GET("/smart_proxies", a.listSmartProxies)
	u.POST("/smart_proxies", a.createSmartProxy)
	u.GET("/smart_proxies/:id", a.showSmartProxy)
	u.PUT("/smart_proxies/:id", a.updateSmartProxy)
	u.DELETE("/smart_proxies/:id", a.destroySmartProxy)
	u.PUT("/smart_proxies/:id/refresh", a.refreshSmartProxy)
	u.GET("/smart_proxies/:id/version", a.smartProxyVersion)
	u.GET("/smart_proxies/:id/logs", a.smartProxyLogs)
	u.POST("/smart_proxies/:id/import_subnets", a.importSubnets)
	u.PUT("/smart_proxies/:id/hosts/:host_id", a.assignProxyHost)

	u.GET("/domains", a.listDomains)
	u.POST("/domains", a.createDomain)
	u.GET("/domains/:id", a.showDomain)
	u.PUT("/domains/:id", a.updateDomain)
	u.DELETE("/domains/:id", a.destroyDomain)

	u.GET("/subnets", a.listSubnets)
	u.POST("/subnets", a.createSubnet)
	u.GET("/subnets/:id", a.showSubnet)
	u.PUT("/subnets/:id", a.updateSubnet)
	u.DELETE("/subnets/:id", a.destroySubnet)

	u.GET("/architectures", a.listArchitectures)
	u.POST("/architectures", a.createArchitecture)
	u.GET("/architectures/:id", a.showArchitecture)
	u.PUT("/architectures/:id", a.updateArchitecture)
	u.DELETE("/architectures/:id", a.destroyArchitecture)

	u.GET("/operatingsystems", a.listOperatingSystems)
	u.POST("/operatingsystems", a.createOperatingSystem)
	u.GET("/operatingsystems/:id", a.showOperatingSystem)
	u.PUT("/operatingsystems/:id", a.updateOperatingSystem)
	u.DELETE("/operatingsystems/:id", a.destroyOperatingSystem)

	u.GET("/media", a.listMedia)
	u.POST("/media", a.createMedium)
	u.GET("/media/:id", a.showMedium)
	u.PUT("/media/:id", a.updateMedium)
	u.DELETE("/media/:id", a.destroyMedium)

	u.GET("/hosts", a.listHosts)
	u.POST("/hosts", a.createHost)
	u.GET("/hosts/:id", a.showHost)
	u.PUT("/hosts/:id", a.updateHost)
	u.DELETE("/hosts/:id", a.destroyHost)
}

// logRequest logs each request at debug level (info would flood a busy core's log).
func (a *API) logRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		a.log.Debugf("%s %s %d %s %s", c.Request().Method, c.Request().URL.RequestURI(), c.Response().Status,
			time.Since(start).Round(time.Microsecond), c.RealIP())
		return nil
	}
}

// handleError answers what a handler or Echo itself returned: our own answers pass
// through, Echo's (unknown route, wrong method, body too large) get Foreman's layout,
// anything else is logged and is a 500 without internals.
func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if he.Code == http.StatusNotFound {
			msg = "Route not found: " + c.Request().Method + " " + c.Request().URL.Path
		}
		c.JSON(he.Code, respond.MessageBody(msg))
		return
	}
	a.log.WithError(err).Errorf("%s %s", c.Request().Method, c.Request().URL.Path)
	c.JSON(http.StatusInternalServerError, respond.MessageBody("Internal server error, see the log of foreman-core"))
}
