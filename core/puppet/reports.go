package puppet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
)

// createReport is POST /api/v2/config_reports, /api/config_reports and the legacy
// /api/reports. The body is Foreman's report processor's JSON ({"config_report": ...},
// or {"report": ...} as API v1 had it), or Puppet's own report YAML as its `http` report
// processor posts it (Content-Type application/x-yaml). The host is found by certname
// then name and created when unknown if create_new_host_when_report_is_uploaded.
// 201 with the report; 422 {"message"} when it cannot be imported.
func (s *Service) createReport(c echo.Context) error {
	data, handled, err := respond.ReadBody(c)
	if handled {
		return err
	}
	var in *reportIn
	mediaType, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	switch mediaType {
	case "application/x-yaml", "application/yaml", "text/yaml":
		if in, err = fromPuppetYAML(data); err != nil {
			return message(c, http.StatusUnprocessableEntity, "%v", err)
		}
	default:
		in = &reportIn{}
		if handled, err := respond.DecodeJSON(c, data, in, "config_report", "report"); handled {
			return err
		}
	}
	r, name, err := in.toReport()
	if err != nil {
		return message(c, http.StatusUnprocessableEntity, "%v", err)
	}
	h, found, err := s.lookupHost(c, name, name)
	if err != nil {
		return err
	}
	if !found {
		if !s.opts.CreateHostsFromReports {
			return message(c, http.StatusUnprocessableEntity,
				"Host %s not found and create_new_host_when_report_is_uploaded is off", name)
		}
		if h, err = s.createHost(c, store.Host{Name: name}); errors.Is(err, errNameBusy) {
			return nameBusy(c, name)
		} else if err != nil {
			return err
		}
	}
	r.HostID, r.HostName = h.ID, h.Name
	// The answer is built from r as written (the row is not visible outside the
	// transaction yet); it is what a reload would give.
	return s.storeOnce(c, func(w store.KeyedWrite) (int, any, error) {
		err := w.CreateConfigReport(&r)
		return http.StatusCreated, reportView(r, true), err
	})
}

// reportView is Foreman's config report JSON; the full view (show, create) adds
// metrics and logs.
func reportView(r store.ConfigReport, full bool) map[string]any {
	v := map[string]any{"id": r.ID, "host_id": r.HostID, "host_name": r.HostName,
		"reported_at": r.ReportedAt.UTC().Format("2006-01-02 15:04:05 UTC"), "status": r.Status, "origin": r.Origin,
		"created_at": r.CreatedAt.UTC(), "updated_at": r.UpdatedAt.UTC()}
	if full {
		v["metrics"] = json.RawMessage(r.Metrics)
		var logs []logIn
		json.Unmarshal(r.Logs, &logs)
		flat := make([]map[string]any, len(logs))
		for i, l := range logs {
			flat[i] = map[string]any{"level": l.Log.Level, "source": l.Log.Sources.Source, "message": l.Log.Messages.Message}
		}
		v["logs"] = flat
	}
	return v
}

// listReports is GET /api/v2/config_reports: search by host=, host_id=, origin= or a counter.
func (s *Service) listReports(c echo.Context) error {
	return s.reportIndex(c)
}

// listHostReports is GET /api/v2/hosts/:host_id/config_reports.
func (s *Service) listHostReports(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	return s.reportIndex(c, search.Condition{Field: "host_id", Op: "=", Value: fmt.Sprint(h.ID)})
}

func (s *Service) reportIndex(c echo.Context, extra ...search.Condition) error {
	opts, idx, err := respond.ListOptions(c, extra...)
	if err != nil {
		return respond.SearchFailed(c, err)
	}
	counts, list, err := s.store.ListConfigReports(c.Request().Context(), opts)
	out := make([]map[string]any, len(list))
	for i, r := range list {
		out[i] = reportView(r, false)
	}
	return respond.Listed(c, idx, counts, out, err)
}

// showReport is GET /api/v2/config_reports/:id.
func (s *Service) showReport(c echo.Context) error {
	raw := respond.Param(c, "id")
	id, ok := respond.NumericID(raw)
	if !ok {
		return respond.NotFound(c, "config_report", raw)
	}
	r, err := s.store.ConfigReport(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "config_report", raw)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reportView(r, true))
}

// lastHostReport is GET /api/v2/hosts/:host_id/config_reports/last.
func (s *Service) lastHostReport(c echo.Context) error {
	h, handled, err := s.findHost(c, "host_id")
	if handled {
		return err
	}
	r, err := s.store.LastConfigReport(c.Request().Context(), h.ID)
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "config_report", "last")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reportView(r, true))
}

// destroyReport is DELETE /api/v2/config_reports/:id: 200 with the deleted report.
func (s *Service) destroyReport(c echo.Context) error {
	raw := respond.Param(c, "id")
	id, ok := respond.NumericID(raw)
	if !ok {
		return respond.NotFound(c, "config_report", raw)
	}
	ctx := c.Request().Context()
	r, err := s.store.ConfigReport(ctx, id)
	if err == nil {
		err = s.store.DeleteConfigReport(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return respond.NotFound(c, "config_report", raw)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reportView(r, false))
}

// ExpireReports deletes the reports older than the retention (Foreman's
// `foreman-rake reports:expire`); it does nothing when retention is 0.
func (s *Service) ExpireReports(ctx context.Context) (int64, error) {
	if s.opts.ReportRetention <= 0 {
		return 0, nil
	}
	return s.store.ExpireConfigReports(ctx, time.Now().Add(-s.opts.ReportRetention))
}

// RunReportExpiry calls ExpireReports and ExpireIdempotencyKeys now and then every
// interval until ctx ends.
func (s *Service) RunReportExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.ExpireReports(ctx); err != nil {
			s.log.WithError(err).Warn("expiring config reports")
		} else if n > 0 {
			s.log.Infof("Expired %d config reports older than %s", n, s.opts.ReportRetention)
		}
		if n, err := s.ExpireIdempotencyKeys(ctx); err != nil {
			s.log.WithError(err).Warn("expiring idempotency keys")
		} else if n > 0 {
			s.log.Infof("Forgot %d Idempotency-Keys older than %s", n, s.keyRetention())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
