package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/registry"
)

// sharingFeature offers /unattended/:kind as both templates and the relay do.
type sharingFeature struct{ name string }

func (f *sharingFeature) Name() string                  { return f.name }
func (f *sharingFeature) Configure(*registry.Env) error { return nil }
func (f *sharingFeature) Start(context.Context) error   { return nil }
func (f *sharingFeature) Routes() []registry.Route {
	reply := func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, http.StatusOK, map[string]string{"served_by": f.name, "kind": httpapi.PathParam(r, "kind")})
	}
	return []registry.Route{{Method: http.MethodGet, Path: "/unattended/:kind", Handler: reply, Public: true}}
}

// Two features may offer the same route: the first registered that runs on the
// listener answers; with neither running it is not found.
func TestSharedRouteServedByFirstRunningFeature(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"templates.yml": ":enabled: true\n", "relay.yml": ":enabled: true\n"}, `{"kind":"provision","served_by":"templates"}`},
		{map[string]string{"relay.yml": ":enabled: true\n"}, `{"kind":"provision","served_by":"relay"}`},
		{map[string]string{"templates.yml": ":enabled: https\n", "relay.yml": ":enabled: true\n"}, `{"kind":"provision","served_by":"relay"}`},
		{map[string]string{}, "Requested url was not found"},
	}
	for _, c := range cases {
		p := start(t, c.files, &sharingFeature{name: "templates"}, &sharingFeature{name: "relay"})
		if _, body, _ := p.do(t, "GET", "/unattended/provision", nil, nil); body != c.want {
			t.Errorf("with %v: %s, want %s", c.files, body, c.want)
		}
	}
}
