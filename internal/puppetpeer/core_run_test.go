package puppetpeer

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestCoreClassifiesAndCollects: a host created through foreman-core's API, with a
// global and a host parameter, a class with a parameter value and an environment, is
// classified by the core through the ENC script over mTLS; `puppet agent -t` applies
// exactly that (the class writes a file from the values); the core then holds the
// facts the ENC script uploaded and the report Puppet's http processor posted, whose
// counters match the agent's own run summary.
func TestCoreClassifiesAndCollects(t *testing.T) {
	l, p := peers(t)
	c := theCore
	ctx := context.Background()
	const name = "web01.core.test"
	probe := filepath.Join(l.agentDir(name), "probe.txt")
	must := func(status int, out map[string]any, err error) map[string]any {
		t.Helper()
		if err != nil || status >= 300 {
			t.Fatalf("core API: %d %v %v", status, out, err)
		}
		return out
	}
	must(c.call("POST", "/api/v2/common_parameters", map[string]any{"common_parameter": map[string]any{"name": "probe_suffix", "value": "(global)"}}))
	must(c.call("POST", "/api/v2/common_parameters", map[string]any{"common_parameter": map[string]any{"name": "probe_message", "value": "overridden by the host"}}))
	host := must(c.call("POST", "/api/v2/hosts", map[string]any{"host": map[string]any{"name": name,
		"host_parameters_attributes": []map[string]string{{"name": "probe_message", "value": "hello from foreman-core"}}}}))
	hostID := int64(host["id"].(float64))
	must(c.call("PUT", fmt.Sprintf("/api/v2/hosts/%d/puppet", hostID), map[string]any{"environment": "development",
		"puppet_classes": map[string]any{"probe": map[string]any{"path": probe}}}))

	run, err := l.runAgent(ctx, name)
	if err != nil || run.exitCode != 1 || !strings.Contains(run.output, "not been signed yet") {
		t.Fatalf("first run: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	if r := p.do(t, "POST", "/puppet/ca/"+name, nil); r.status != 200 {
		t.Fatalf("sign: %d %q", r.status, r.body)
	}
	if run, err = l.runAgent(ctx, name); err != nil || run.exitCode != 2 || !run.signedAndApplied() {
		t.Fatalf("run after signing: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	if !strings.Contains(run.output, "'development'") {
		t.Errorf("the agent did not switch to the environment the core named:\n%s", run.output)
	}
	if got, err := os.ReadFile(probe); err != nil || string(got) != "hello from foreman-core (global) on web01.core.test\n" {
		t.Fatalf("probe file %q, %v\n%s", got, err, run.output)
	}

	// Facts: uploaded by the ENC script for the same host (not a new one).
	h, err := c.store.HostByName(ctx, name)
	if err != nil || h.ID != hostID {
		t.Fatalf("host after the run: %+v %v", h, err)
	}
	facts, _, err := c.store.Facts(ctx, hostID)
	if err != nil || !strings.Contains(string(facts), `"clientcert":"`+name+`"`) || !strings.Contains(string(facts), `"puppetmaster_fqdn"`) {
		t.Fatalf("facts %.300s %v", facts, err)
	}

	// The report: the counters are the agent's own run summary.
	var summary struct {
		Resources map[string]int `yaml:"resources"`
		Changes   map[string]int `yaml:"changes"`
		Events    map[string]int `yaml:"events"`
	}
	data, err := os.ReadFile(filepath.Join(l.agentDir(name), "public", "last_run_summary.yaml")) // Puppet 7 keeps it under publicdir
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &summary); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("applied=%d restarted=%d failed=%d failed_restarts=%d skipped=%d pending=%d",
		summary.Changes["total"], summary.Resources["restarted"], summary.Resources["failed"],
		summary.Resources["failed_to_restart"], summary.Resources["skipped"], summary.Events["noop"])
	var last map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status, out, err := c.call("GET", "/api/v2/config_reports?search="+url.QueryEscape("host="+name), nil)
		if err == nil && status == 200 && out["subtotal"] == 1.0 {
			last = must(c.call("GET", fmt.Sprintf("/api/v2/hosts/%d/config_reports/last", hostID), nil))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report for %s in the core: %d %v %v\n%s", name, status, out, err, tail(l.path("log", "puppetserver.log"), 20))
		}
	}
	st := last["status"].(map[string]any)
	got := fmt.Sprintf("applied=%v restarted=%v failed=%v failed_restarts=%v skipped=%v pending=%v",
		st["applied"], st["restarted"], st["failed"], st["failed_restarts"], st["skipped"], st["pending"])
	if got != want || summary.Changes["total"] < 1 {
		t.Fatalf("report status %s, agent summary %s\n%v", got, want, last)
	}
	resources := last["metrics"].(map[string]any)["resources"].(map[string]any)
	if resources["total"] != float64(summary.Resources["total"]) {
		t.Errorf("report resources.total %v, summary %d", resources["total"], summary.Resources["total"])
	}
	t.Logf("report of %s: %s, %v resources, %d log lines", name, got, resources["total"], len(last["logs"].([]any)))

	// The ENC script itself: an unknown node is a 404, and with no cache the script
	// fails; a known node whose classification is gone is served from the cache.
	encRun := func(certname string) (string, string, int) {
		script, _ := nodeScript()
		cmd := exec.Command("/usr/bin/ruby", script, certname)
		cmd.Env = append(os.Environ(), "FOREMAN_ENC_SETTINGS="+l.foremanYAML())
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
		return stdout.String(), stderr.String(), code
	}
	if out, errOut, code := encRun("nobody.core.test"); code != 1 || out != "" ||
		!strings.Contains(errOut, "Serving cached ENC: Error retrieving node nobody.core.test: Net::HTTPNotFound") ||
		!strings.Contains(errOut, "Unable to read from Cache file") {
		t.Errorf("unknown node: exit %d stdout %q stderr %q", code, out, errOut)
	}
	fresh, _, code := encRun(name)
	if code != 0 || !strings.HasPrefix(fresh, "---\n") || !strings.Contains(fresh, "probe:") || !strings.Contains(fresh, "environment: development") {
		t.Fatalf("ENC for %s: exit %d\n%s", name, code, fresh)
	}
	must(c.call("DELETE", fmt.Sprintf("/api/v2/hosts/%d", hostID), nil))
	cached, errOut, code := encRun(name)
	if code != 0 || cached != fresh || !strings.Contains(errOut, "Serving cached ENC: Error retrieving node "+name+": Net::HTTPNotFound") {
		t.Errorf("deleted host: exit %d stderr %q\nstdout %s", code, errOut, cached)
	}
}
