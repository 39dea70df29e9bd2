package puppet_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// reportRequest is foreman-clients.md §2 as report.rb sends it, with the recorded body
// of the failing run.
const reportRequest = `POST /api/config_reports HTTP/1.1
Accept-Encoding: gzip;q=1.0,deflate;q=0.6,identity;q=0.3
Accept: */*, application/json,version=2
User-Agent: Ruby
Content-Type: application/json
Connection: close
Host: HOSTPORT
Content-Length: LENGTH
`

const reportBody = `{"config_report": {
  "host": "web01.example.test",
  "reported_at": "2026-12-06 00:37:21 UTC",
  "status": {"applied": 2, "restarted": 0, "failed": 3, "failed_restarts": 0, "skipped": 0, "pending": 0},
  "metrics": {
    "resources": {"changed": 2, "corrective_change": 0, "failed": 1, "failed_to_restart": 0, "out_of_sync": 3,
                  "restarted": 0, "scheduled": 0, "skipped": 0, "total": 10},
    "time": {"catalog_application": 0.0309, "config_retrieval": 0.1627, "exec": 0.0144, "file": 0.0021, "total": 0.0355, "…": 0.0},
    "changes": {"total": 2},
    "events": {"failure": 1, "success": 2, "total": 3}},
  "logs": [
    {"log": {"level": "notice", "sources": {"source": "Puppet"}, "messages": {"message": "applied probe"}}},
    {"log": {"level": "notice", "sources": {"source": "/Stage[main]/Main/File[/tmp/…/applied-probe]/ensure"},
             "messages": {"message": "defined content as '{sha256}25be3235…'"}}},
    {"log": {"level": "err", "sources": {"source": "Puppet"}, "messages": {"message": "'/bin/false' returned 1 instead of one of [0]"}}},
    {"log": {"level": "err", "sources": {"source": "/Stage[main]/Main/Exec[failing-exec]/returns"},
             "messages": {"message": "change from 'notrun' to ['0'] failed: '/bin/false' returned 1 instead of one of [0]"}}},
    {"log": {"level": "notice", "sources": {"source": "Puppet"}, "messages": {"message": "Applied catalog in 0.03 seconds"}}}]}}`

func status(a coretest.Answer) string {
	s, _ := a.JSON["status"].(map[string]any)
	return fmt.Sprintf("applied=%v restarted=%v failed=%v failed_restarts=%v skipped=%v pending=%v",
		s["applied"], s["restarted"], s["failed"], s["failed_restarts"], s["skipped"], s["pending"])
}

const failedRunStatus = "applied=2 restarted=0 failed=3 failed_restarts=0 skipped=0 pending=0"

func report(host, at string, st map[string]int, metrics map[string]any) map[string]any {
	r := map[string]any{"host": host, "reported_at": at, "metrics": metrics}
	if st != nil {
		r["status"] = st
	}
	return r
}

func TestConfigReports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		pc := c.client(t, &c.Puppet, "", "")

		// The processor's exact request: stored with the counters it computed, host created.
		first := c.replay(t, &c.Puppet, reportRequest, reportBody).Expect(t, 201)
		if status(first) != failedRunStatus || first.JSON["host_name"] != "web01.example.test" ||
			first.JSON["reported_at"] != "2026-12-06 00:37:21 UTC" || first.JSON["origin"] != "Puppet" {
			t.Fatalf("created %s", first.Body)
		}
		logs, _ := first.JSON["logs"].([]any)
		if len(logs) != 5 || logs[2].(map[string]any)["level"] != "err" || first.JSON["metrics"].(map[string]any)["resources"].(map[string]any)["total"] != 10.0 {
			t.Fatalf("logs/metrics %s", first.Body)
		}
		hostID := int64(first.JSON["host_id"].(float64))

		// Puppet's own report YAML (the `http` report processor): the counters are
		// computed as report.rb does and come out the same.
		yamlReport, err := os.ReadFile("testdata/failed-run.yaml")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", c.URL+"/api/v2/config_reports", strings.NewReader(string(yamlReport)))
		req.Header.Set("Content-Type", "application/x-yaml; charset=UTF-8")
		resp, err := pc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		fromYAML := coretest.Read(t, resp).Expect(t, 201)
		if status(fromYAML) != failedRunStatus || fromYAML.JSON["host_name"] != "web02.example.test" || fromYAML.JSON["reported_at"] != "2026-12-06 00:37:17 UTC" {
			t.Fatalf("from YAML %s", fromYAML.Body)
		}
		if l := fromYAML.JSON["logs"].([]any); len(l) != 5 { // the debug line is dropped
			t.Fatalf("YAML logs %v", l)
		}

		// Every route; the legacy one with API v1's "report" wrapper; counters capped at 63
		// as Foreman's bit field; missing counters computed from the metrics (noop run).
		noop := map[string]any{"resources": map[string]any{"total": 4}, "changes": map[string]any{"total": 0},
			"events": map[string]any{"noop": 2, "total": 2}}
		coretest.Do(t, pc, "POST", c.URL+"/api/reports", map[string]any{"report": report("web01.example.test", "2026-12-06 00:40:00 UTC", nil, noop)}).Expect(t, 201)
		capped := coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", map[string]any{"config_report": report("web01.example.test", "2026-12-06T00:41:00Z",
			map[string]int{"applied": 100, "failed": -1}, noop)}).Expect(t, 201)
		if status(capped) != "applied=63 restarted=0 failed=0 failed_restarts=0 skipped=0 pending=0" {
			t.Fatalf("capped %s", status(capped))
		}
		computed := coretest.Do(t, pc, "POST", c.URL+"/api/config_reports", report("web01.example.test", "2026-12-06 00:42:00 UTC", nil, noop)).Expect(t, 201)
		if status(computed) != "applied=0 restarted=0 failed=0 failed_restarts=0 skipped=0 pending=2" {
			t.Fatalf("computed %s", status(computed))
		}

		// report.rb's guard: skipped counts only when the other counters do not
		// account for every log line.
		skips := map[string]any{"resources": map[string]any{"skipped": 3}, "changes": map[string]any{"total": 1}}
		oneLog := []map[string]any{{"log": map[string]any{"level": "notice", "sources": map[string]any{"source": "/File[/x]/ensure"}, "messages": map[string]any{"message": "created"}}}}
		for logs, want := range map[int]string{1: "skipped=0", 2: "skipped=3"} {
			r := report("skips.example.test", "2026-12-06 00:43:00 UTC", nil, skips)
			r["logs"] = append(oneLog, oneLog...)[:logs]
			if got := status(coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", r).Expect(t, 201)); !strings.Contains(got, want) {
				t.Errorf("%d logs: %s, want %s", logs, got, want)
			}
		}

		// What Foreman refuses to import.
		for body, msg := range map[string]string{
			`{"config_report": {"reported_at": "2026-12-06 00:37:21 UTC", "metrics": {}}}`:                     "Invalid report: host is missing",
			`{"config_report": {"host": "web01.example.test", "metrics": {}}}`:                                 "Invalid report: reported_at is missing for web01.example.test",
			`{"config_report": {"host": "web01.example.test", "reported_at": "2026-12-06 00:37:21 UTC"}}`:      "Invalid report: can't find metrics information for web01.example.test",
			`{"config_report": {"host": "web01.example.test", "reported_at": "yesterday", "metrics": {}}}`:     `Invalid report: reported_at "yesterday" is not a time (e.g. "2026-12-06 00:37:21 UTC")`,
			`{"config_report": {"host": "bad host", "reported_at": "2026-12-06 00:37:21 UTC", "metrics": {}}}`: `Invalid report: host "bad host" is not a valid name`,
		} {
			coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", body).ExpectMessage(t, 422, msg)
		}
		coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", `{"config_report": `).Expect(t, 400)
		coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", `{"config_report": {"logs": "x"}}`).Expect(t, 422)
		req, _ = http.NewRequest("POST", c.URL+"/api/v2/config_reports", strings.NewReader("- [unclosed"))
		req.Header.Set("Content-Type", "application/x-yaml")
		resp, err = pc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if a := coretest.Read(t, resp); a.Status != 422 || !strings.HasPrefix(fmt.Sprint(a.JSON["message"]), "Invalid report: not a Puppet report in YAML") {
			t.Fatalf("bad YAML: %d %s", a.Status, a.Body)
		}
		coretest.Do(t, c.client(t, &c.Other, "", ""), "POST", c.URL+"/api/v2/config_reports", reportBody).Expect(t, 403)
		coretest.Do(t, c.Anon, "POST", c.URL+"/api/v2/config_reports", reportBody).Expect(t, 403)
		coretest.Do(t, c.Anon, "POST", c.URL+"/api/reports", reportBody).Expect(t, 403)

		for _, prefix := range prefixes {
			base := c.URL + prefix
			// Index by host: web01 has 4 reports, newest first; web02 one.
			byHost := coretest.Do(t, c.User, "GET", base+"/config_reports?search="+url.QueryEscape("host=web01.example.test"), nil).Expect(t, 200)
			list := byHost.Results()
			if byHost.JSON["total"] != 7.0 || byHost.JSON["subtotal"] != 4.0 || len(list) != 4 || list[0]["id"] != computed.JSON["id"] {
				t.Fatalf("index by host: %s", byHost.Body)
			}
			if _, full := list[0]["logs"]; full {
				t.Fatalf("index shows logs: %v", list[0])
			}
			nested := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/hosts/%d/config_reports", base, hostID), nil).Expect(t, 200)
			if nested.JSON["subtotal"] != 4.0 {
				t.Fatalf("nested index: %s", nested.Body)
			}
			if r := coretest.Do(t, c.User, "GET", base+"/config_reports?search="+url.QueryEscape("host=web02.example.test"), nil).Expect(t, 200).Results(); len(r) != 1 || r[0]["host_name"] != "web02.example.test" {
				t.Fatalf("web02: %v", r)
			}
			if r := coretest.Do(t, c.User, "GET", base+"/config_reports?search="+url.QueryEscape("failed = 3"), nil).Expect(t, 200).Results(); len(r) != 2 {
				t.Fatalf("failed = 3: %v", r)
			}
			coretest.Do(t, c.User, "GET", base+"/config_reports?search=nosuchfield%3D1", nil).ExpectSearchError(t, "Field 'nosuchfield' not recognized for searching!")
			last := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/hosts/web01.example.test/config_reports/last", base), nil).Expect(t, 200)
			if last.JSON["reported_at"] != "2026-12-06 00:42:00 UTC" {
				t.Fatalf("last %s", last.Body)
			}
			show := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/config_reports/%d", base, first.ID(t)), nil).Expect(t, 200)
			if status(show) != failedRunStatus || len(show.JSON["logs"].([]any)) != 5 {
				t.Fatalf("show %s", show.Body)
			}
			coretest.Do(t, c.User, "GET", base+"/config_reports/999999", nil).ExpectFull(t, 404, "Resource config_report not found by id '999999'")
			coretest.Do(t, c.User, "GET", base+"/config_reports/abc", nil).ExpectFull(t, 404, "Resource config_report not found by id 'abc'")
			coretest.Do(t, c.User, "GET", base+"/hosts/nope/config_reports", nil).ExpectFull(t, 404, "Resource host not found by id 'nope'")
			coretest.Do(t, c.Anon, "GET", base+"/config_reports", nil).Expect(t, 401)
		}
		coretest.Do(t, c.User, "GET", c.URL+"/api/v2/hosts/web02.example.test/config_reports/last", nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/api/v2/config_reports/%d", c.URL, fromYAML.ID(t)), nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/api/v2/config_reports/%d", c.URL, fromYAML.ID(t)), nil).Expect(t, 404)
		coretest.Do(t, c.User, "GET", c.URL+"/api/v2/hosts/web02.example.test/config_reports/last", nil).ExpectFull(t, 404, "Resource config_report not found by id 'last'")
	})
}

func TestConfigReportRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db) // retention 7 days
		ctx := context.Background()
		pc := c.client(t, &c.Puppet, "", "")
		metrics := map[string]any{"changes": map[string]any{"total": 1}}
		old := time.Now().UTC().Add(-8 * 24 * time.Hour).Format("2006-01-02 15:04:05 UTC")
		recent := time.Now().UTC().Add(-6 * 24 * time.Hour).Format("2006-01-02 15:04:05 UTC")
		oldID := coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", report("web01.example.test", old, nil, metrics)).Expect(t, 201).ID(t)
		recentID := coretest.Do(t, pc, "POST", c.URL+"/api/v2/config_reports", report("web01.example.test", recent, nil, metrics)).Expect(t, 201).ID(t)
		n, err := c.Service.ExpireReports(ctx)
		if err != nil || n != 1 {
			t.Fatalf("expired %d, %v; want 1", n, err)
		}
		if _, err := c.Store.ConfigReport(ctx, oldID); err != store.ErrNotFound {
			t.Fatalf("old report: %v", err)
		}
		if _, err := c.Store.ConfigReport(ctx, recentID); err != nil {
			t.Fatalf("recent report: %v", err)
		}
	})
	t.Run("zero keeps everything", func(t *testing.T) {
		c := newCore(t, storetest.SQLite(t), func(o *puppet.Options) { o.ReportRetention = 0 })
		old := time.Now().UTC().Add(-800 * 24 * time.Hour).Format("2006-01-02 15:04:05 UTC")
		coretest.Do(t, c.client(t, &c.Puppet, "", ""), "POST", c.URL+"/api/v2/config_reports",
			report("web01.example.test", old, nil, map[string]any{})).Expect(t, 201)
		if n, err := c.Service.ExpireReports(context.Background()); n != 0 || err != nil {
			t.Fatalf("expired %d, %v", n, err)
		}
	})
}

func TestReportsDoNotCreateHostsWhenOff(t *testing.T) {
	c := newCore(t, storetest.SQLite(t), func(o *puppet.Options) { o.CreateHostsFromReports = false })
	c.replay(t, &c.Puppet, reportRequest, reportBody).ExpectMessage(t, 422,
		"Host web01.example.test not found and create_new_host_when_report_is_uploaded is off")
}
