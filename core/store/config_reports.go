package store

import (
	"context"
	"encoding/json"
	"time"
)

// ConfigReport is one Puppet run as the report processor sent it.
type ConfigReport struct {
	ID         int64
	HostID     int64
	HostName   string
	ReportedAt time.Time
	Status     ReportStatus
	Origin     string          // "Puppet"
	Metrics    json.RawMessage // {"category": {"name": value}}
	Logs       json.RawMessage // [{"log": {"level", "sources": {"source"}, "messages": {"message"}}}]
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ReportStatus are Foreman's six counters of a config report.
type ReportStatus struct {
	Applied        int `json:"applied"`
	Restarted      int `json:"restarted"`
	Failed         int `json:"failed"`
	FailedRestarts int `json:"failed_restarts"`
	Skipped        int `json:"skipped"`
	Pending        int `json:"pending"`
}

var configReportFields = map[string]field{
	"id":              {"id", intField},
	"host_id":         {"host_id", intField},
	"host":            {"(SELECT h.name FROM hosts h WHERE h.id = config_reports.host_id)", textField},
	"origin":          {"origin", textField},
	"applied":         {"applied", intField},
	"restarted":       {"restarted", intField},
	"failed":          {"failed", intField},
	"failed_restarts": {"failed_restarts", intField},
	"skipped":         {"skipped", intField},
	"pending":         {"pending", intField},
}

const configReportColumns = `r.id, r.host_id, h.name, r.reported_at, r.applied, r.restarted, r.failed, r.failed_restarts,
	r.skipped, r.pending, r.origin, r.metrics, r.logs, r.created_at, r.updated_at`

// ListConfigReports returns one page of reports, newest first unless ordered otherwise.
func (s *Store) ListConfigReports(ctx context.Context, opts ListOptions) (Counts, []ConfigReport, error) {
	if opts.OrderBy == "" {
		opts.Desc = true // by id: the last received first, as Foreman's reported_at DESC
	}
	c, ids, err := s.listIDs(ctx, "config_reports", configReportFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.ConfigReport)
	return c, list, err
}

// ConfigReport loads a report by id.
func (s *Store) ConfigReport(ctx context.Context, id int64) (ConfigReport, error) {
	return s.loadConfigReport(ctx, `r.id = $1`, id)
}

// LastConfigReport is the report of a host with the latest reported_at.
func (s *Store) LastConfigReport(ctx context.Context, hostID int64) (ConfigReport, error) {
	return s.loadConfigReport(ctx, `r.host_id = $1 ORDER BY r.reported_at DESC, r.id DESC LIMIT 1`, hostID)
}

func (s *Store) loadConfigReport(ctx context.Context, cond string, arg any) (ConfigReport, error) {
	var r ConfigReport
	var metrics, logs string
	err := s.queryRow(ctx, `SELECT `+configReportColumns+` FROM config_reports r JOIN hosts h ON h.id = r.host_id
		WHERE `+cond, arg).Scan(&r.ID, &r.HostID, &r.HostName, &r.ReportedAt, &r.Status.Applied, &r.Status.Restarted,
		&r.Status.Failed, &r.Status.FailedRestarts, &r.Status.Skipped, &r.Status.Pending, &r.Origin, &metrics, &logs,
		&r.CreatedAt, &r.UpdatedAt)
	r.ReportedAt = r.ReportedAt.UTC()
	r.Metrics, r.Logs = json.RawMessage(metrics), json.RawMessage(logs)
	return r, mapErr(err)
}

// CreateConfigReport stores r; r gets its id.
func (s *Store) CreateConfigReport(ctx context.Context, r *ConfigReport) error {
	return createConfigReport(ctx, s.db, r)
}

// createConfigReport is CreateConfigReport on q: the store's pool or a transaction (KeyedWrite).
func createConfigReport(ctx context.Context, q querier, r *ConfigReport) error {
	r.CreatedAt = now()
	r.UpdatedAt = r.CreatedAt
	r.ReportedAt = r.ReportedAt.UTC().Truncate(time.Microsecond)
	st := r.Status
	return mapErr(q.QueryRowContext(ctx, `INSERT INTO config_reports (host_id, reported_at, applied, restarted, failed,
		failed_restarts, skipped, pending, origin, metrics, logs, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		r.HostID, r.ReportedAt, st.Applied, st.Restarted, st.Failed, st.FailedRestarts, st.Skipped, st.Pending,
		r.Origin, string(r.Metrics), string(r.Logs), r.CreatedAt, r.UpdatedAt).Scan(&r.ID))
}

// DeleteConfigReport deletes one report.
func (s *Store) DeleteConfigReport(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "config_reports", id)
}

// ExpireConfigReports deletes the reports made before cutoff and says how many.
func (s *Store) ExpireConfigReports(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM config_reports WHERE reported_at < $1`, cutoff.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
