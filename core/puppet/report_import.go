package puppet

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/smartproxy/smartproxy/core/store"
)

// reportIn is a config report as Foreman's report processor sends it
// (foreman-clients.md §2), after unwrapping {"config_report": ...}.
type reportIn struct {
	Host       string                    `json:"host"`
	ReportedAt string                    `json:"reported_at"`
	Status     *statusIn                 `json:"status"`
	Metrics    map[string]map[string]any `json:"metrics"`
	Logs       []logIn                   `json:"logs"`
	Origin     string                    `json:"origin"`
	// runStatus is Puppet's own status ("failed", "changed", "unchanged") and
	// logCount its number of log lines (debug included) when the report came as
	// Puppet's YAML; Foreman's JSON carries neither.
	runStatus string
	logCount  int
}

type statusIn struct {
	Applied, Restarted, Failed, FailedRestarts, Skipped, Pending *float64
}

func (s *statusIn) UnmarshalJSON(data []byte) error {
	var m map[string]*float64
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	s.Applied, s.Restarted, s.Failed = m["applied"], m["restarted"], m["failed"]
	s.FailedRestarts, s.Skipped, s.Pending = m["failed_restarts"], m["skipped"], m["pending"]
	return nil
}

type logIn struct {
	Log struct {
		Level   string `json:"level"`
		Sources struct {
			Source string `json:"source"`
		} `json:"sources"`
		Messages struct {
			Message string `json:"message"`
		} `json:"messages"`
	} `json:"log"`
}

// statusBits is Foreman's width of each counter: the six live in one integer, 6 bits
// each, so a counter saturates at 63.
const statusMax = 1<<6 - 1

// reportedAtLayouts are the times report processors send: report.rb's
// "%Y-%m-%d %H:%M:%S UTC", and ISO 8601 / RFC 3339.
var reportedAtLayouts = []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999 -07:00"}

func parseReportedAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range reportedAtLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("reported_at %q is not a time (e.g. \"2026-12-06 00:37:21 UTC\")", s)
}

// toReport checks what Foreman requires of a report and builds the stored form. The
// status counters are stored as the report processor computed them; a report without
// them gets them computed from its metrics and logs the same way (computeStatus).
func (in *reportIn) toReport() (store.ConfigReport, string, error) {
	var r store.ConfigReport
	name := normaliseName(in.Host)
	switch {
	case name == "":
		return r, "", fmt.Errorf("Invalid report: host is missing")
	case !hostName.MatchString(name):
		return r, "", fmt.Errorf("Invalid report: host %q is not a valid name", in.Host)
	case in.ReportedAt == "":
		return r, "", fmt.Errorf("Invalid report: reported_at is missing for %s", name)
	case in.Metrics == nil:
		return r, "", fmt.Errorf("Invalid report: can't find metrics information for %s", name)
	}
	at, err := parseReportedAt(in.ReportedAt)
	if err != nil {
		return r, "", fmt.Errorf("Invalid report: %v", err)
	}
	r.ReportedAt = at
	r.Origin = in.Origin
	if r.Origin == "" {
		r.Origin = "Puppet"
	}
	if in.Status != nil {
		st := in.Status
		r.Status = store.ReportStatus{Applied: counter(st.Applied), Restarted: counter(st.Restarted), Failed: counter(st.Failed),
			FailedRestarts: counter(st.FailedRestarts), Skipped: counter(st.Skipped), Pending: counter(st.Pending)}
	} else {
		logCount := in.logCount
		if in.runStatus == "" {
			logCount = len(in.Logs)
		}
		r.Status = computeStatus(in.Metrics, in.Logs, in.runStatus, logCount)
	}
	if r.Metrics, err = json.Marshal(in.Metrics); err != nil {
		return r, "", err
	}
	logs := in.Logs
	if logs == nil {
		logs = []logIn{}
	}
	if r.Logs, err = json.Marshal(logs); err != nil {
		return r, "", err
	}
	return r, name, nil
}

func counter(v *float64) int {
	if v == nil || *v < 0 || math.IsNaN(*v) {
		return 0
	}
	return min(int(*v), statusMax)
}

// computeStatus is what Foreman's report processor derives from a Puppet report:
// applied = changes.total, restarted = resources.restarted, failed = resources.failed
// (+1 when the run failed, + each err log whose source is Puppet itself),
// failed_restarts = resources.failed_to_restart, skipped = resources.skipped — but 0
// when the other counters add up to the number of log lines (report.rb's guard
// against false skip warnings) — and pending = events.noop; each capped as Foreman
// stores it.
func computeStatus(metrics map[string]map[string]any, logs []logIn, runStatus string, logCount int) store.ReportStatus {
	metric := func(cat, name string) int {
		switch v := metrics[cat][name].(type) {
		case float64:
			return int(v)
		case int:
			return v
		}
		return 0
	}
	applied, restarted, failed := metric("changes", "total"), metric("resources", "restarted"), metric("resources", "failed")
	failedRestarts, skipped, pending := metric("resources", "failed_to_restart"), metric("resources", "skipped"), metric("events", "noop")
	if skipped > 0 && applied+restarted+failed+failedRestarts+pending == logCount {
		skipped = 0
	}
	if runStatus == "failed" {
		failed++
	}
	for _, l := range logs {
		if l.Log.Level == "err" && strings.HasSuffix(l.Log.Sources.Source, "Puppet") {
			failed++
		}
	}
	capped := func(n int) int { return max(0, min(n, statusMax)) }
	return store.ReportStatus{Applied: capped(applied), Restarted: capped(restarted), Failed: capped(failed),
		FailedRestarts: capped(failedRestarts), Skipped: capped(skipped), Pending: capped(pending)}
}

// puppetReport is the part of Puppet's own report YAML (--- !ruby/object:Puppet::Transaction::Report,
// what the `http` report processor posts) that a config report needs.
type puppetReport struct {
	Host    string `yaml:"host"`
	Time    any    `yaml:"time"`
	Status  string `yaml:"status"`
	Metrics map[string]struct {
		Values [][]any `yaml:"values"`
	} `yaml:"metrics"`
	Logs []struct {
		Level   string `yaml:"level"`
		Message string `yaml:"message"`
		Source  string `yaml:"source"`
	} `yaml:"logs"`
}

// fromPuppetYAML turns Puppet's report into the report processor's JSON form, as
// report.rb does: metrics as {category: {name: value}}, logs without debug lines and
// "Finished catalog run", reported_at in UTC.
func fromPuppetYAML(data []byte) (*reportIn, error) {
	var pr puppetReport
	if err := yaml.Unmarshal(data, &pr); err != nil {
		return nil, fmt.Errorf("Invalid report: not a Puppet report in YAML: %v", err)
	}
	in := &reportIn{Host: pr.Host, runStatus: pr.Status, logCount: len(pr.Logs), Logs: []logIn{}}
	switch t := pr.Time.(type) {
	case time.Time:
		in.ReportedAt = t.UTC().Format(time.RFC3339Nano)
	case string:
		in.ReportedAt = t
	}
	if pr.Metrics != nil {
		in.Metrics = map[string]map[string]any{}
		for cat, m := range pr.Metrics {
			values := map[string]any{}
			for _, triple := range m.Values {
				if len(triple) == 3 {
					if name, ok := triple[0].(string); ok {
						values[name] = number(triple[2])
					}
				}
			}
			in.Metrics[cat] = values
		}
	}
	for _, l := range pr.Logs {
		l.Level = strings.TrimPrefix(l.Level, ":") // a Ruby symbol when Psych dumped the object
		if l.Level == "debug" || strings.HasPrefix(l.Message, "Finished catalog run") {
			continue
		}
		var li logIn
		li.Log.Level, li.Log.Sources.Source, li.Log.Messages.Message = l.Level, l.Source, l.Message
		in.Logs = append(in.Logs, li)
	}
	return in, nil
}

// number makes YAML's ints and floats the float64 JSON decoding gives.
func number(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	}
	return v
}
