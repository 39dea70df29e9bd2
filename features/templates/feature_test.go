package templates_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/fakeforeman"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/registry"
)

func TestSettingsDecideState(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	cases := []struct {
		name     string
		global   string
		file     string
		want     registry.State
		errParts []string
	}{
		{"running", ":foreman_url: " + foreman.URL + "\n", enabledTemplates, registry.Running, nil},
		{"disabled", ":foreman_url: " + foreman.URL + "\n", ":enabled: false\n", registry.Disabled, nil},
		{"no foreman_url", "", enabledTemplates, registry.Failed, []string{"settings.yml", "missing :foreman_url: from configuration"}},
		{"no template_url", ":foreman_url: " + foreman.URL + "\n", ":enabled: true\n", registry.Failed, []string{"templates.yml", ":template_url: is required"}},
		{"template_url without scheme", ":foreman_url: " + foreman.URL + "\n", ":enabled: true\n:template_url: proxy.test:8000\n", registry.Failed, []string{":template_url: must be a URL"}},
		{"unreadable client certificate", ":foreman_url: " + foreman.URL + "\n:foreman_ssl_cert: /nonexistent/cert.pem\n:foreman_ssl_key: /nonexistent/key.pem\n", enabledTemplates, registry.Failed, []string{"/nonexistent/cert.pem"}},
		{"unreadable CA", ":foreman_url: " + foreman.URL + "\n:foreman_ssl_ca: /nonexistent/ca.pem\n", enabledTemplates, registry.Failed, []string{"reading CA file /nonexistent/ca.pem"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := proxytest.Start(t, tc.global, map[string]string{"templates.yml": tc.file}, templates.New())
			state, err := p.Registry.StateOf("templates")
			if state != tc.want {
				t.Fatalf("state = %s (%v), want %s", state, err, tc.want)
			}
			for _, part := range tc.errParts {
				if err == nil || !strings.Contains(err.Error(), part) {
					t.Errorf("failure %v does not mention %q", err, part)
				}
			}
		})
	}
}

func TestTemplateURLExposedAndServed(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "")

	got := p.Do(t, http.MethodGet, "/unattended/templateServer", nil)
	if got.Status != http.StatusOK || got.Body != `{"templateServer":"`+templateURL+`"}` {
		t.Errorf("templateServer = %d %s", got.Status, got.Body)
	}
	if n := len(foreman.Requests()); n != 0 {
		t.Errorf("templateServer asked Foreman %d times; it is answered locally", n)
	}

	v2 := p.Do(t, http.MethodGet, "/v2/features", nil)
	var features map[string]struct {
		State    string         `json:"state"`
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal([]byte(v2.Body), &features); err != nil {
		t.Fatalf("/v2/features %q: %v", v2.Body, err)
	}
	tf := features["templates"]
	if tf.State != "running" || tf.Settings["template_url"] != templateURL {
		t.Errorf("v2 templates = %+v", tf)
	}
	v1 := p.Do(t, http.MethodGet, "/features", nil)
	if v1.Body != `["templates"]` {
		t.Errorf("/features = %s", v1.Body)
	}
}

func TestDisabledExposesNull(t *testing.T) {
	p := proxytest.Start(t, "", map[string]string{"templates.yml": ":enabled: false\n"}, templates.New())
	v2 := p.Do(t, http.MethodGet, "/v2/features", nil)
	if !strings.Contains(v2.Body, `"settings":{"template_url":null}`) {
		t.Errorf("/v2/features = %s, want template_url null", v2.Body)
	}
	if got := p.Do(t, http.MethodGet, "/unattended/provision", nil); got.Status != http.StatusNotFound {
		t.Errorf("disabled feature answered %d %s", got.Status, got.Body)
	}
}

// The shipped example must load: disabled as shipped, running once enabled with a
// foreman_url.
func TestShippedExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "settings.d", "templates.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := proxytest.Start(t, "", map[string]string{"templates.yml": string(example)}, templates.New())
	if s := p.State("templates"); s != registry.Disabled {
		t.Errorf("shipped example: state %s, want disabled", s)
	}
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	enabled := strings.Replace(string(example), ":enabled: false", ":enabled: true", 1)
	p = proxytest.Start(t, ":foreman_url: "+foreman.URL+"\n", map[string]string{"templates.yml": enabled}, templates.New())
	if s, err := p.Registry.StateOf("templates"); s != registry.Running {
		t.Errorf("enabled example: state %s (%v), want running", s, err)
	}
}
