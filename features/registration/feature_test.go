package registration_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/registration"
	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/fakeforeman"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/registry"
)

func TestStateFollowsTemplates(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	withForeman := ":foreman_url: " + foreman.URL + "\n"
	cases := []struct {
		name      string
		global    string
		templates string
		want      registry.State
		errPart   string
	}{
		{"templates running", withForeman, enabledTemplates, registry.Running, ""},
		{"templates disabled", withForeman, ":enabled: false\n", registry.Failed, "registration requires the templates feature, which is disabled"},
		{"templates failed", withForeman, ":enabled: true\n", registry.Failed, "registration requires the templates feature, which is failed"},
		{"no foreman_url", "", enabledTemplates, registry.Failed, "missing :foreman_url: from configuration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"templates.yml": tc.templates, "registration.yml": ":enabled: true\n"}
			p := proxytest.Start(t, tc.global, files, templates.New(), registration.New())
			state, err := p.Registry.StateOf("registration")
			if state != tc.want {
				t.Fatalf("state %s (%v), want %s", state, err, tc.want)
			}
			if tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)) {
				t.Errorf("failure %v does not say %q", err, tc.errPart)
			}
			got := send(t, p, http.MethodGet, "/register", "", "", nil)
			if tc.want != registry.Running && got.status != http.StatusNotFound {
				t.Errorf("a %s registration answered %d %q", state, got.status, got.body)
			}
		})
	}
}

func TestRegistrationURLExposed(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	cases := []struct {
		file string
		want any
	}{
		{":enabled: true\n:registration_url: https://proxy.example.com:8443/\n", "https://proxy.example.com:8443"},
		{":enabled: true\n", nil},
	}
	for _, tc := range cases {
		p := startProxy(t, foreman.URL, "", tc.file)
		var features map[string]struct {
			State    string         `json:"state"`
			Settings map[string]any `json:"settings"`
		}
		v2 := p.Do(t, http.MethodGet, "/v2/features", nil)
		if err := json.Unmarshal([]byte(v2.Body), &features); err != nil {
			t.Fatalf("/v2/features %q: %v", v2.Body, err)
		}
		reg := features["registration"]
		got, present := reg.Settings["registration_url"]
		if reg.State != "running" || !present || got != tc.want {
			t.Errorf("%q: v2 registration = %+v, want registration_url %v", tc.file, reg, tc.want)
		}
	}
}

func TestBadRegistrationURLFails(t *testing.T) {
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "", ":enabled: true\n:registration_url: proxy.example.com\n")
	state, err := p.Registry.StateOf("registration")
	if state != registry.Failed || err == nil || !strings.Contains(err.Error(), ":registration_url: must be a URL") {
		t.Errorf("state %s (%v), want failed naming :registration_url:", state, err)
	}
}

func TestShippedExample(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "settings.d", "registration.yml"))
	if err != nil {
		t.Fatal(err)
	}
	foreman := fakeforeman.Start(t, fakeforeman.Options{})
	p := startProxy(t, foreman.URL, "", string(example))
	if s := p.State("registration"); s != registry.Disabled {
		t.Errorf("shipped example: state %s, want disabled", s)
	}
	enabled := strings.Replace(string(example), ":enabled: false", ":enabled: true", 1)
	enabled = strings.Replace(enabled, "#:registration_url:", ":registration_url:", 1)
	p = startProxy(t, foreman.URL, "", enabled)
	if s, err := p.Registry.StateOf("registration"); s != registry.Running {
		t.Errorf("enabled example: state %s (%v), want running", s, err)
	}
}
