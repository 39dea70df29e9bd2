package puppetpeer

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func decode[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return v
}

func TestEnvironmentsFromPuppetServer(t *testing.T) {
	l, p := peers(t)
	if got := decode[[]string](t, p.do(t, "GET", "/puppet/environments", nil)); strings.Join(got, ",") != "development,production" {
		t.Errorf("environments %v", got)
	}
	env := decode[struct {
		Name  string   `json:"name"`
		Paths []string `json:"paths"`
	}](t, p.do(t, "GET", "/puppet/environments/production", nil))
	if env.Name != "production" || len(env.Paths) == 0 || env.Paths[0] != l.path("code", "environments", "production", "modules") {
		t.Errorf("production: %+v", env)
	}
	if r := p.do(t, "GET", "/puppet/environments/nope", nil); r.status != 404 || r.body != "Could not find environment 'nope'" {
		t.Errorf("unknown environment: %d %q", r.status, r.body)
	}
}

func TestClassesFromPuppetServer(t *testing.T) {
	l, p := peers(t)
	classes := decode[[]map[string]struct {
		Name   string         `json:"name"`
		Module *string        `json:"module"`
		Params map[string]any `json:"params"`
	}](t, p.do(t, "GET", "/puppet/environments/production/classes", nil))
	byKey := map[string]string{}
	for _, c := range classes {
		for key, body := range c {
			mod := "<null>"
			if body.Module != nil {
				mod = *body.Module
			}
			params, _ := json.Marshal(body.Params)
			byKey[key] = fmt.Sprintf("%s|%s|%s", body.Name, mod, params)
		}
	}
	want := map[string]string{
		"motd":         `motd|<null>|{"extra":"undef","message":"hello","port":8140,"server":"${facts['networking']['fqdn']}"}`,
		"motd::config": `config|motd|{"enabled":true,"lines":["a","b"]}`,
	}
	for key, w := range want {
		if byKey[key] != w {
			t.Errorf("class %s: %s, want %s", key, byKey[key], w)
		}
	}
	if len(byKey) != len(want) {
		t.Errorf("classes %v, want only %v", byKey, want)
	}

	files := decode[[]map[string]any](t, p.do(t, "GET", "/puppet/environments/production/classes_and_errors", nil))
	var sawError, sawMotd bool
	for _, f := range files {
		path, _ := f["path"].(string)
		switch {
		case strings.HasSuffix(path, "broken/manifests/init.pp"):
			msg, _ := f["error"].(string)
			sawError = strings.Contains(msg, "Syntax error")
		case strings.HasSuffix(path, "motd/manifests/init.pp"):
			data, _ := json.Marshal(f["classes"])
			sawMotd = strings.Contains(string(data), `"default_source":"${facts['networking']['fqdn']}"`) &&
				strings.Contains(string(data), `"type":"Integer"`) && strings.Contains(string(data), `"default_literal":8140`)
		}
	}
	if !sawError || !sawMotd {
		t.Errorf("classes_and_errors lacks the broken file's error (%v) or motd's parameters (%v): %v", sawError, sawMotd, files)
	}

	// The second listing was revalidated with the ETag: Puppet answered 304. Jetty
	// writes its access log after the response, so give the line a moment.
	const notModified = `"GET /puppet/v3/environment_classes?environment=production HTTP/1.1" 304`
	var access []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if access, _ = os.ReadFile(l.path("log", "access.log")); strings.Contains(string(access), notModified) {
			break
		}
	}
	if !strings.Contains(string(access), notModified) {
		t.Errorf("no 304 for environment_classes in Puppet's access log:\n%s", access)
	}
	if r := p.do(t, "GET", "/puppet/environments/nope/classes", nil); r.status != 404 || r.body != "Could not find environment 'nope'" {
		t.Errorf("classes of an unknown environment: %d %q", r.status, r.body)
	}
}

func TestFeaturesExposePuppetURL(t *testing.T) {
	l, p := peers(t)
	v2 := decode[map[string]struct {
		State    string         `json:"state"`
		Settings map[string]any `json:"settings"`
	}](t, p.do(t, "GET", "/v2/features", nil))
	for _, name := range []string{"puppet", "puppetca"} {
		if f := v2[name]; f.State != "running" || f.Settings["puppet_url"] != l.url() {
			t.Errorf("%s: %+v", name, f)
		}
	}
}

type certEntry struct {
	State    string `json:"state"`
	Serial   any    `json:"serial"`
	NotAfter any    `json:"not_after"`
}

func certificates(t *testing.T, p *proxy) map[string]certEntry {
	t.Helper()
	return decode[map[string]certEntry](t, p.do(t, "GET", "/puppet/ca", nil))
}

// An agent's request shows pending, our API signs it, the agent's next run gets a
// catalog, and DELETE revokes (the serial lands in the CRL) and removes it.
func TestAgentSignedThroughAPIThenCleaned(t *testing.T) {
	l, p := peers(t)
	ctx := context.Background()
	const name = "agent-manual.test"
	run, err := l.runAgent(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if run.exitCode != 1 || !strings.Contains(run.output, "not been signed yet") {
		t.Fatalf("first run: exit %d\n%s", run.exitCode, run.output)
	}
	if st := certificates(t, p)[name].State; st != "pending" {
		t.Fatalf("state after first run %q, want pending", st)
	}
	if r := p.do(t, "POST", "/puppet/ca/"+name, nil); r.status != 200 || r.body != "" {
		t.Fatalf("sign: %d %q", r.status, r.body)
	}
	if run, err = l.runAgent(ctx, name); err != nil || !run.signedAndApplied() {
		t.Fatalf("run after signing: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	entry := certificates(t, p)[name]
	if entry.State != "valid" || entry.Serial == nil || entry.NotAfter == nil {
		t.Fatalf("after signing: %+v", entry)
	}
	serial, _ := new(big.Int).SetString(fmt.Sprint(entry.Serial), 10)

	if r := p.do(t, "DELETE", "/puppet/ca/"+name, nil); r.status != 200 || r.body != "" {
		t.Fatalf("clean: %d %q", r.status, r.body)
	}
	if _, listed := certificates(t, p)[name]; listed {
		t.Error("cleaned certificate still listed")
	}
	if !revoked(t, l, serial) {
		t.Errorf("serial %v not in the CA's CRL after clean", serial)
	}
	if r := p.do(t, "DELETE", "/puppet/ca/"+name, nil); r.status != 404 {
		t.Errorf("second clean: %d %q", r.status, r.body)
	}
}

// revoked reads the CA's CRL over the unauthenticated CA endpoint.
func revoked(t *testing.T, l *lab, serial *big.Int) bool {
	t.Helper()
	resp, err := theProxy.client.Get(l.url() + "/puppet-ca/v1/certificate_revocation_list/ca")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return false
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(serial) == 0 {
				return true
			}
		}
	}
}

func writeCSRAttributes(t *testing.T, l *lab, certname, token string) {
	t.Helper()
	d := l.agentDir(certname)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	yml := fmt.Sprintf("custom_attributes:\n  1.2.840.113549.1.9.7: %q\n", token)
	if err := os.WriteFile(filepath.Join(d, "csr_attributes.yaml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// With token autosigning, an agent carrying its token is signed on its first run by
// Puppet Server's policy hook (our puppetca-validate), and the token is spent: the
// same token on a fresh request, and a wrong token, leave the request pending.
func TestTokenAutosignThroughPolicyHook(t *testing.T) {
	l, p := peers(t)
	ctx := context.Background()
	const name = "agent-token.test"
	r := p.do(t, "POST", "/puppet/ca/autosign/"+name, nil)
	token := decode[map[string]string](t, r)["generated_token"]
	if token == "" {
		t.Fatalf("no token: %s", r.body)
	}
	if list := decode[[]string](t, p.do(t, "GET", "/puppet/ca/autosign", nil)); strings.Join(list, ",") != name {
		t.Fatalf("autosign list %v", list)
	}
	writeCSRAttributes(t, l, name, token)
	run, err := l.runAgent(ctx, name)
	if err != nil || !run.signedAndApplied() {
		t.Fatalf("first run with a token: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	if st := certificates(t, p)[name].State; st != "valid" {
		t.Fatalf("state %q after the autosigned run", st)
	}
	if list := decode[[]string](t, p.do(t, "GET", "/puppet/ca/autosign", nil)); len(list) != 0 {
		t.Errorf("token still listed after use: %v", list)
	}

	// Second use: the certificate is cleaned and the agent starts over (new key, new
	// CSR) with the same token.
	if r := p.do(t, "DELETE", "/puppet/ca/"+name, nil); r.status != 200 {
		t.Fatalf("clean: %d %q", r.status, r.body)
	}
	if err := os.RemoveAll(filepath.Join(l.agentDir(name), "ssl")); err != nil {
		t.Fatal(err)
	}
	if run, err = l.runAgent(ctx, name); err != nil || run.exitCode != 1 {
		t.Fatalf("reused token: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	if st := certificates(t, p)[name].State; st != "pending" {
		t.Errorf("reused token: state %q, want pending", st)
	}

	const wrong = "agent-wrong-token.test"
	writeCSRAttributes(t, l, wrong, strings.Replace(token, "e", "f", 3))
	if run, err = l.runAgent(ctx, wrong); err != nil || run.exitCode != 1 {
		t.Fatalf("wrong token: exit %d %v\n%s", run.exitCode, err, run.output)
	}
	if st := certificates(t, p)[wrong].State; st != "pending" {
		t.Errorf("wrong token: state %q, want pending", st)
	}
	hookLog, _ := os.ReadFile(l.path("log", "hook.log"))
	if n := strings.Count(string(hookLog), "refused the CSR"); n < 2 {
		t.Errorf("hook refused %d times, want 2:\n%s", n, hookLog)
	}
}
