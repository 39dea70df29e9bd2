package puppetca

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/internal/puppetapi/puppettest"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// httpsProxy runs the real server on an https port of 127.0.0.1 with puppetca and the
// given settings.d files, and returns the settings.yml path the command reads.
func httpsProxy(t *testing.T, files map[string]string) (string, *Feature) {
	t.Helper()
	pki := puppettest.NewPKI(t)
	dir := t.TempDir()
	sd := filepath.Join(dir, "settings.d")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sd, name), []byte(strings.ReplaceAll(content, "$DIR", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	path := filepath.Join(dir, "settings.yml")
	yml := fmt.Sprintf(":settings_directory: %s\n:bind_host: ['127.0.0.1']\n:https_port: %d\n:log_file: STDOUT\n"+
		":ssl_certificate: %s\n:ssl_private_key: %s\n:ssl_ca_file: %s\n:trusted_hosts: [puppet.test]\n",
		sd, port, pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	global, err := settings.LoadGlobal(path, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	f := New()
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, f)
	reg.Load()
	reg.Start(context.Background())
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		reg.Stop(context.Background())
	})
	return path, f
}

func runValidate(args []string, csr []byte) (int, string) {
	var stdout, stderr bytes.Buffer
	code := RunValidate(args, bytes.NewReader(csr), &stdout, &stderr)
	return code, stderr.String()
}

func TestValidateCommand(t *testing.T) {
	path, f := httpsProxy(t, map[string]string{
		"puppetca.yml":                    ":enabled: https\n" + tokenProvider,
		"puppetca_http_api.yml":           ":puppet_url: http://127.0.0.1:1\n",
		"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/tokens.yml\n:certificate: $DIR/token.key\n",
	})
	reply, err := f.autosign.Add("agent.example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	token := reply.(map[string]string)["generated_token"]
	csr := makeCSR(t, "agent.example.com", token)
	if code, stderr := runValidate([]string{"--settings", path, "agent.example.com"}, csr); code != 0 {
		t.Fatalf("first use: exit %d: %s", code, stderr)
	}
	code, stderr := runValidate([]string{"--settings", path, "agent.example.com"}, csr)
	if code != 1 || !strings.Contains(stderr, "refused the CSR") {
		t.Fatalf("second use: exit %d: %s", code, stderr)
	}
	if code, _ := runValidate([]string{"--settings", path, "agent.example.com"}, makeCSR(t, "agent.example.com", "wrong")); code != 1 {
		t.Fatalf("wrong token: exit %d", code)
	}
}

func TestValidateCommandFailuresRefuse(t *testing.T) {
	path, _ := httpsProxy(t, map[string]string{
		"puppetca.yml":          ":enabled: true\n" + hostnameProvider,
		"puppetca_http_api.yml": ":puppet_url: http://127.0.0.1:1\n",
	})
	csr := makeCSR(t, "a.example.com", "x")
	code, stderr := runValidate([]string{"--settings", path, "a.example.com"}, csr)
	if code != 1 || !strings.Contains(stderr, "501") || !strings.Contains(stderr, "Provider only supports trivial autosigning") {
		t.Errorf("hostname provider: exit %d: %s", code, stderr)
	}
	code, stderr = runValidate([]string{"--settings", path, "--url", "https://127.0.0.1:1", "a.example.com"}, csr)
	if code != 1 || !strings.Contains(stderr, "calling the smart proxy") {
		t.Errorf("proxy down: exit %d: %s", code, stderr)
	}
	code, stderr = runValidate([]string{"--settings", "/nonexistent/settings.yml", "a.example.com"}, csr)
	if code != 1 || !strings.Contains(stderr, "settings file not found") {
		t.Errorf("no settings: exit %d: %s", code, stderr)
	}
	if code, _ := runValidate([]string{"--settings", path}, csr); code != 2 {
		t.Errorf("no certname: exit %d, want 2", code)
	}
	disabled, _ := httpsProxy(t, map[string]string{"puppetca.yml": ":enabled: false\n"})
	code, stderr = runValidate([]string{"--settings", disabled, "a.example.com"}, csr)
	if code != 1 || !strings.Contains(stderr, "PuppetCA smart-proxy module is not enabled") {
		t.Errorf("puppetca disabled: exit %d: %s", code, stderr)
	}
}

// TestValidateCommandSaysWhatIsWrong: an empty, oversized or garbage CSR leaves the
// request pending (exit 1) with a message naming the problem, not "refused".
func TestValidateCommandSaysWhatIsWrong(t *testing.T) {
	path, _ := httpsProxy(t, map[string]string{
		"puppetca.yml":                    ":enabled: https\n" + tokenProvider,
		"puppetca_http_api.yml":           ":puppet_url: http://127.0.0.1:1\n",
		"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/tokens.yml\n:certificate: $DIR/token.key\n",
	})
	tests := []struct {
		name string
		csr  []byte
		want string
	}{
		{"empty", nil, "puppetca-validate a.example.com: no CSR on stdin (Puppet Server passes the PEM certificate request there)\n"},
		{"10 MiB", bytes.Repeat([]byte("a"), 10<<20), "puppetca-validate a.example.com: the CSR on stdin is larger than 65536 bytes\n"},
		{"garbage", []byte("not a CSR\n"), "puppetca-validate a.example.com: the smart proxy answered 400 Bad Request: Invalid CSR: neither a PEM \"CERTIFICATE REQUEST\" block nor DER\n"},
	}
	for _, tt := range tests {
		code, stderr := runValidate([]string{"--settings", path, "a.example.com"}, tt.csr)
		if code != 1 || stderr != tt.want {
			t.Errorf("%s: exit %d, stderr %q; want 1, %q", tt.name, code, stderr, tt.want)
		}
	}
}
