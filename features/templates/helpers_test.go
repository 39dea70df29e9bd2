package templates_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/features/templates"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

const templateURL = "http://proxy.test:8000"

const enabledTemplates = ":enabled: true\n:template_url: " + templateURL + "\n"

// startProxy runs the templates feature relaying to foremanURL; extraGlobal is added to
// settings.yml (TLS files).
func startProxy(t *testing.T, foremanURL, extraGlobal string) *proxytest.Proxy {
	t.Helper()
	global := ":foreman_url: " + foremanURL + "\n" + extraGlobal
	return proxytest.Start(t, global, map[string]string{"templates.yml": enabledTemplates}, templates.New())
}

// reply is what a host got from the proxy.
type reply struct {
	status      int
	contentType string
	body        string
}

// hostRequest is a host's request to the proxy.
type hostRequest struct {
	method string
	path   string
	header map[string]string
	body   string
	// from is the loopback address the host connects from ("" = the default).
	from string
}

func (h hostRequest) send(t *testing.T, p *proxytest.Proxy) reply {
	t.Helper()
	var body io.Reader
	if h.body != "" {
		body = strings.NewReader(h.body)
	}
	method := h.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, p.URL+h.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h.header {
		req.Header.Set(k, v)
	}
	client := p.Client
	if h.from != "" {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(h.from)}, Timeout: 5 * time.Second}
		client = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, h.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
}
