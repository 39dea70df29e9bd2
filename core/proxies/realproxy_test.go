package proxies_test

// Discovery and calls against the real smart proxy (registry + server) behind a real
// https listener, the core presenting a client certificate as in production. The test
// imports features only to run a proxy; the core itself never does (DESIGN §2).

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/features/httpboot"
	"github.com/smartproxy/smartproxy/features/logs"
	"github.com/smartproxy/smartproxy/features/tftp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
	"github.com/smartproxy/smartproxy/internal/testpki"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
)

// realProxy starts logs, tftp and httpboot over https with the given settings files
// and returns it with a core client holding a client certificate of the same CA.
func realProxy(t *testing.T, files map[string]string) (*proxytest.Proxy, *proxies.Client) {
	t.Helper()
	ca := testpki.NewCA(t, "Proxies Test CA")
	root := t.TempDir()
	defaults := map[string]string{
		"tftp.yml":     ":enabled: true\n:tftproot: " + root + "\n:listen: false\n:tftp_servername: 192.0.2.1\n",
		"httpboot.yml": ":enabled: true\n:root_dir: " + root + "\n",
	}
	for name, content := range files {
		defaults[name] = content
	}
	buffer := logging.NewBuffer(100, 10, logrus.InfoLevel)
	p := proxytest.StartHTTPS(t, ca, "", defaults, []registry.Feature{logs.New(buffer), tftp.New(), httpboot.New()}...)
	core := ca.IssueLoopback(t, "foreman.example.test")
	conf, err := tlsclient.Config(ca.CAFile, core.CertFile, core.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p, proxies.NewClient(conf, 10*time.Second)
}

func TestFeaturesOfARealProxy(t *testing.T) {
	p, client := realProxy(t, nil)
	got, err := client.Features(context.Background(), p.URL+"/") // a trailing slash is ignored
	if err != nil {
		t.Fatal(err)
	}
	want := []proxies.Feature{
		{Name: "HTTPBoot", Capabilities: []string{}, Settings: map[string]any{"http_port": nil, "https_port": float64(8443)}},
		{Name: "Logs", Capabilities: []string{}, Settings: map[string]any{}},
		// state_backend: the effective one, which tftp shows since the global setting (features/tftp/README.md).
		{Name: "TFTP", Capabilities: []string{}, Settings: map[string]any{"state_backend": "journal", "tftp_servername": "192.0.2.1"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("features\n%#v\nwant\n%#v", got, want)
	}
}

// A feature that failed to start is reported with state "failed" and is not stored.
func TestFailedFeatureIsLeftOut(t *testing.T) {
	p, client := realProxy(t, map[string]string{
		"tftp.yml": ":enabled: true\n:tftproot: " + t.TempDir() + "\n:listen: not-an-address\n",
	})
	if s := p.State("tftp"); s != registry.Failed {
		t.Fatalf("tftp is %s, the test needs it failed", s)
	}
	got, err := client.Features(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range got {
		names = append(names, f.Name)
	}
	if want := []string{"HTTPBoot", "Logs"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("features %v, want %v", names, want)
	}
}

func TestNoFeatureEnabled(t *testing.T) {
	p, client := realProxy(t, map[string]string{
		"logs.yml": ":enabled: false\n", "tftp.yml": ":enabled: false\n", "httpboot.yml": ":enabled: false\n",
	})
	_, err := client.Features(context.Background(), p.URL)
	expectMessages(t, err, "No features found on this proxy, please make sure you enable at least one feature")
}

// Without the core's client certificate the proxy refuses: Foreman's pair of messages.
func TestProxyRefusesCoreWithoutCertificate(t *testing.T) {
	p, _ := realProxy(t, nil)
	client := proxies.NewClient(&tls.Config{RootCAs: p.Client.Transport.(*http.Transport).TLSClientConfig.RootCAs}, 10*time.Second)
	_, err := client.Features(context.Background(), p.URL)
	expectMessages(t, err,
		"Unable to communicate with the proxy: Unable to detect features (403 Forbidden (No client SSL certificate supplied)) for proxy "+p.URL+"/v2/features",
		"Please check the proxy is configured and running on the host.")
}

// A proxy whose certificate the core's CA did not sign is not talked to.
func TestProxyWithUnknownCA(t *testing.T) {
	p, _ := realProxy(t, nil)
	other := testpki.NewCA(t, "Another CA")
	core := other.IssueLoopback(t, "foreman.example.test")
	conf, err := tlsclient.Config(other.CAFile, core.CertFile, core.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = proxies.NewClient(conf, 10*time.Second).Features(context.Background(), p.URL)
	var de *proxies.DiscoveryError
	if !errors.As(err, &de) || len(de.Messages) != 2 ||
		!strings.HasPrefix(de.Messages[0], "Unable to communicate with the proxy: Unable to detect features (tls: failed to verify certificate") {
		t.Fatalf("error %#v", err)
	}
}

func TestVersionAndLogsOfARealProxy(t *testing.T) {
	p, client := realProxy(t, nil)
	v, err := client.Version(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v["version"] != "3.11.0" {
		t.Fatalf("version %v", v)
	}
	if modules, _ := v["modules"].(map[string]any); modules["tftp"] != "3.11.0" {
		t.Fatalf("modules of %v", v)
	}
	raw, err := client.Logs(context.Background(), p.URL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"failed_modules"`) || !strings.Contains(string(raw), `"logs"`) {
		t.Fatalf("logs %s", raw)
	}
}

// Do writes through a real feature, and a refusal comes back as a *ProxyError.
func TestDoAgainstARealProxy(t *testing.T) {
	p, client := realProxy(t, nil)
	ctx := context.Background()
	form := url.Values{"pxeconfig": {"DEFAULT local"}}
	if _, err := client.Do(ctx, http.MethodPost, p.URL, "/tftp/PXELinux/52:54:00:aa:bb:cc", form); err != nil {
		t.Fatal(err)
	}
	var root string
	for _, line := range strings.Split(readFile(t, filepath.Join(p.Dir, "settings.d", "tftp.yml")), "\n") {
		if v, ok := strings.CutPrefix(line, ":tftproot: "); ok {
			root = v
		}
	}
	if got := readFile(t, filepath.Join(root, "pxelinux.cfg", "01-52-54-00-aa-bb-cc")); got != "DEFAULT local" {
		t.Fatalf("pxelinux config %q", got)
	}
	_, err := client.Do(ctx, http.MethodPost, p.URL, "/tftp/PXELinux/zz", form)
	var pe *proxies.ProxyError
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden || pe.Body != "Invalid MAC address: zz" ||
		pe.URL != p.URL+"/tftp/PXELinux/zz" {
		t.Fatalf("error %#v", err)
	}
	if want := "403 Forbidden (Invalid MAC address: zz) for proxy " + p.URL + "/tftp/PXELinux/zz"; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectMessages fails unless err is a *DiscoveryError with exactly these messages.
func expectMessages(t *testing.T, err error, want ...string) {
	t.Helper()
	var de *proxies.DiscoveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a DiscoveryError", err, err)
	}
	if !reflect.DeepEqual(de.Messages, want) {
		t.Fatalf("messages\n%q\nwant\n%q", de.Messages, want)
	}
}
