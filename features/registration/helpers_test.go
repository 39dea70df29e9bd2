package registration_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/features/registration"
	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const enabledTemplates = ":enabled: true\n:template_url: http://proxy.test:8000\n"

// startProxy runs templates and registration (registration.yml as given) relaying to
// foremanURL; extraGlobal is added to settings.yml.
func startProxy(t *testing.T, foremanURL, extraGlobal, registrationYML string) *proxytest.Proxy {
	t.Helper()
	global := ":foreman_url: " + foremanURL + "\n" + extraGlobal
	files := map[string]string{"templates.yml": enabledTemplates, "registration.yml": registrationYML}
	return proxytest.Start(t, global, files, templates.New(), registration.New())
}

type reply struct {
	status      int
	contentType string
	body        string
}

// send makes a host's request to the proxy.
func send(t *testing.T, p *proxytest.Proxy, method, path, contentType, body string, header map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
}
