// Package puppet is foreman-core's Puppet side: the ENC Puppet servers ask
// (GET /node/<certname>?format=yml), the classes and the inherited parameters it
// answers with, fact uploads and config reports (foreman-clients.md §1, §2, §5).
package puppet

import (
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/store"
)

// feature is the proxy feature whose holders call the ENC, facts and reports
// routes without a login (Foreman's SmartProxyAuth with the Puppet importers).
const feature = "Puppet"

// Options are the settings of foreman-core.yml this package reads.
type Options struct {
	Store *store.Store
	Auth  *auth.Authenticator
	Log   logrus.FieldLogger

	CreateHostsFromFacts   bool          // create_new_host_when_facts_are_uploaded
	CreateHostsFromReports bool          // create_new_host_when_report_is_uploaded
	EncEnvironment         bool          // enc_environment: the ENC answer names the environment
	ReportRetention        time.Duration // config reports older than this are deleted; 0 = kept
	KeyRetention           time.Duration // Idempotency-Keys older than this are forgotten; 0 = DefaultKeyRetention
	NameWait               time.Duration // how long an upload waits for a host name an API create holds; 0 = DefaultNameWait
}

// Service holds the handlers' collaborators.
type Service struct {
	opts  Options
	store *store.Store
	log   logrus.FieldLogger
}

// Mount adds the Puppet routes to the core's Echo application (next to core/api's,
// under /api/v2 and /api, plus /node/:name) and returns the service, whose
// RunReportExpiry the caller runs (it expires reports and Idempotency-Keys).
func Mount(e *echo.Echo, opts Options) *Service {
	s := &Service{opts: opts, store: opts.Store, log: opts.Log}
	if s.log == nil {
		s.log = logrus.StandardLogger()
	}
	puppet := opts.Auth.RequireProxyOrUser(feature)
	user := opts.Auth.RequireUser()

	e.GET("/node/:name", s.node, puppet)
	for _, prefix := range []string{"/api/v2", "/api"} {
		g := e.Group(prefix)
		g.POST("/hosts/facts", s.uploadFacts, puppet, s.idempotent)
		g.POST("/config_reports", s.createReport, puppet, s.idempotent)

		g.GET("/hosts/:host_id/enc", s.hostENC, user)
		g.GET("/hosts/:host_id/facts", s.hostFacts, user)

		g.GET("/config_reports", s.listReports, user)
		g.GET("/config_reports/:id", s.showReport, user)
		g.DELETE("/config_reports/:id", s.destroyReport, user)
		g.GET("/hosts/:host_id/config_reports", s.listHostReports, user)
		g.GET("/hosts/:host_id/config_reports/last", s.lastHostReport, user)

		g.GET("/puppetclasses", s.listClasses, user)
		g.POST("/puppetclasses", s.createClass, user)
		g.GET("/puppetclasses/:id", s.showClass, user)
		g.DELETE("/puppetclasses/:id", s.destroyClass, user)
		g.GET("/hosts/:host_id/puppetclasses", s.hostClasses, user)
		g.POST("/hosts/:host_id/puppetclass_ids", s.addHostClass, user)
		g.DELETE("/hosts/:host_id/puppetclass_ids/:id", s.removeHostClass, user)
		g.GET("/hosts/:host_id/puppet", s.showHostPuppet, user)
		g.PUT("/hosts/:host_id/puppet", s.updateHostPuppet, user)

		for _, sc := range parameterScopes {
			s.mountParameters(g, sc, user)
		}
	}
	// Foreman's API v1 report route, kept by the old report processors.
	e.POST("/api/reports", s.createReport, puppet, s.idempotent)
	return s
}
