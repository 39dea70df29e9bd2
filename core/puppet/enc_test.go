package puppet_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// world is a host with a domain, subnet and OS, each level with parameters.
type world struct {
	host, domain, subnet, os int64
}

func setupWorld(t *testing.T, c *core) world {
	t.Helper()
	var w world
	w.domain = coretest.Do(t, c.User, "POST", c.URL+"/api/v2/domains", map[string]any{"domain": map[string]any{"name": "example.test"}}).Expect(t, 201).ID(t)
	w.subnet = coretest.Do(t, c.User, "POST", c.URL+"/api/v2/subnets", map[string]any{"subnet": map[string]any{"name": "net-a",
		"network": "192.0.2.0", "mask": "255.255.255.0", "gateway": "192.0.2.1", "domain_ids": []int64{w.domain}}}).Expect(t, 201).ID(t)
	w.os = coretest.Do(t, c.User, "POST", c.URL+"/api/v2/operatingsystems", map[string]any{"operatingsystem": map[string]any{"name": "Debian", "major": "12"}}).Expect(t, 201).ID(t)
	w.host = coretest.Do(t, c.User, "POST", c.URL+"/api/v2/hosts", map[string]any{"host": map[string]any{"name": "web01", "domain_id": w.domain,
		"subnet_id": w.subnet, "operatingsystem_id": w.os, "ip": "192.0.2.10", "mac": "52:54:00:12:34:56",
		"host_parameters_attributes": []map[string]string{{"name": "level", "value": "host"}}}}).Expect(t, 201).ID(t)
	for path, params := range map[string]map[string]string{
		"/api/v2/common_parameters":                                 {"level": "global", "a": "global"},
		fmt.Sprintf("/api/v2/domains/%d/parameters", w.domain):      {"level": "domain", "b": "domain"},
		fmt.Sprintf("/api/v2/subnets/%d/parameters", w.subnet):      {"level": "subnet", "c": "subnet"},
		fmt.Sprintf("/api/v2/operatingsystems/%d/parameters", w.os): {"level": "os", "d": "os"},
	} {
		for name, value := range params {
			coretest.Do(t, c.User, "POST", c.URL+path, map[string]any{"parameter": map[string]any{"name": name, "value": value}}).Expect(t, 201)
		}
	}
	coretest.Do(t, c.User, "PUT", fmt.Sprintf("%s/api/v2/hosts/%d/puppet", c.URL, w.host), map[string]any{"environment": "staging",
		"puppet_classes": map[string]any{"motd": map[string]any{"message": "classified by the core", "port": 8141}, "ntp": nil}}).Expect(t, 200)
	return w
}

// encRequest is exchange B of foreman-clients.md §1 as enc.rb sends it.
const encRequest = `GET /node/NAME?format=yml HTTP/1.1
Accept-Encoding: gzip;q=1.0,deflate;q=0.6,identity;q=0.3
Accept: */*
User-Agent: Ruby
Host: HOSTPORT
`

type encAnswer struct {
	Classes     map[string]map[string]any `yaml:"classes"`
	Parameters  map[string]any            `yaml:"parameters"`
	Environment string                    `yaml:"environment"`
}

func parseENC(t *testing.T, a coretest.Answer) encAnswer {
	t.Helper()
	a.Expect(t, 200)
	if a.ContentType != "text/plain; charset=utf-8" || !strings.HasPrefix(a.Body, "---\n") {
		t.Fatalf("ENC answer %q:\n%s", a.ContentType, a.Body)
	}
	var out encAnswer
	if err := yaml.Unmarshal([]byte(a.Body), &out); err != nil {
		t.Fatalf("ENC YAML: %v\n%s", err, a.Body)
	}
	return out
}

func TestENC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		w := setupWorld(t, c)
		enc := parseENC(t, c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "web01.example.test", 1), ""))
		want := map[string]string{"level": "host", "a": "global", "b": "domain", "c": "subnet", "d": "os",
			"foreman_hostname": "web01", "foreman_fqdn": "web01.example.test", "domainname": "example.test", "foreman_env": "staging"}
		for k, v := range want {
			if fmt.Sprint(enc.Parameters[k]) != v {
				t.Errorf("parameters[%s] = %v, want %s", k, enc.Parameters[k], v)
			}
		}
		if enc.Environment != "staging" || len(enc.Classes) != 2 || enc.Classes["motd"]["message"] != "classified by the core" ||
			enc.Classes["motd"]["port"] != 8141 || enc.Classes["ntp"] != nil {
			t.Fatalf("classes/environment: %+v", enc)
		}
		subnets, _ := enc.Parameters["foreman_subnets"].([]any)
		ifaces, _ := enc.Parameters["foreman_interfaces"].([]any)
		if len(subnets) != 1 || subnets[0].(map[string]any)["network"] != "192.0.2.0" ||
			len(ifaces) != 1 || ifaces[0].(map[string]any)["mac"] != "52:54:00:12:34:56" {
			t.Fatalf("subnets %v interfaces %v", subnets, ifaces)
		}

		// The host's own value goes: the OS's shows through, and so on down.
		params := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/api/v2/hosts/%d/parameters", c.URL, w.host), nil).Expect(t, 200).Results()
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/api/v2/hosts/%d/parameters/%v", c.URL, w.host, params[0]["id"]), nil).Expect(t, 200)
		enc = parseENC(t, c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "web01.example.test", 1), ""))
		if enc.Parameters["level"] != "os" {
			t.Fatalf("level after deleting the host's: %v", enc.Parameters["level"])
		}

		// Found by certname before name; unknown and malformed names are 404.
		coretest.Do(t, c.User, "PUT", fmt.Sprintf("%s/api/v2/hosts/%d", c.URL, w.host), map[string]any{"host": map[string]any{"certname": "agent-cert.example.test"}}).Expect(t, 200)
		parseENC(t, c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "agent-cert.example.test", 1), ""))
		parseENC(t, c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "web01.example.test", 1), ""))
		for _, name := range []string{"nope.example.test", ".hidden", "bad%20name"} {
			if a := c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", name, 1), ""); a.Status != 404 {
				t.Fatalf("%s: %d %s", name, a.Status, a.Body)
			}
		}
		// Without format=yml Foreman shows the YAML in HTML.
		html := coretest.Do(t, c.client(t, &c.Puppet, "", ""), "GET", c.URL+"/node/web01.example.test", nil).Expect(t, 200)
		if !strings.HasPrefix(html.ContentType, "text/html") || !strings.HasPrefix(html.Body, "<pre>---\n") {
			t.Fatalf("html: %s %s", html.ContentType, html.Body)
		}

		// Who may ask: the Puppet proxy's certificate or a user; not another proxy, not anyone.
		coretest.Do(t, c.User, "GET", c.URL+"/node/web01.example.test?format=yml", nil).Expect(t, 200)
		coretest.Do(t, c.client(t, &c.Other, "", ""), "GET", c.URL+"/node/web01.example.test?format=yml", nil).Expect(t, 403)
		coretest.Do(t, c.Anon, "GET", c.URL+"/node/web01.example.test?format=yml", nil).Expect(t, 403)
		coretest.Do(t, c.client(t, nil, "admin", "wrong"), "GET", c.URL+"/node/web01.example.test?format=yml", nil).Expect(t, 403)

		// The API form, by id or name.
		for _, prefix := range prefixes {
			for _, ref := range []string{fmt.Sprint(w.host), "web01.example.test"} {
				data := coretest.Do(t, c.User, "GET", c.URL+prefix+"/hosts/"+ref+"/enc", nil).Expect(t, 200).JSON["data"].(map[string]any)
				if data["environment"] != "staging" || data["parameters"].(map[string]any)["a"] != "global" {
					t.Fatalf("enc API: %v", data)
				}
			}
			coretest.Do(t, c.User, "GET", c.URL+prefix+"/hosts/nope/enc", nil).ExpectFull(t, 404, "Resource host not found by id 'nope'")
			coretest.Do(t, c.Anon, "GET", c.URL+prefix+"/hosts/web01.example.test/enc", nil).Expect(t, 401)
		}

		// A classification that cannot be built is 412 with Foreman's text.
		rawExec(t, db, `UPDATE host_puppetclasses SET parameters = '{broken'`)
		broken := c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "web01.example.test", 1), "")
		if broken.Status != 412 || broken.Body != "Unable to generate output, Check log files" {
			t.Fatalf("broken: %d %q", broken.Status, broken.Body)
		}
		coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/api/v2/hosts/%d/enc", c.URL, w.host), nil).ExpectMessage(t, 412, "Unable to generate output, Check log files")
	})
}

func TestENCWithoutEnvironment(t *testing.T) {
	c := newCore(t, storetest.SQLite(t), func(o *puppet.Options) { o.EncEnvironment = false })
	setupWorld(t, c)
	enc := parseENC(t, c.replay(t, &c.Puppet, strings.Replace(encRequest, "NAME", "web01.example.test", 1), ""))
	if enc.Environment != "" || enc.Parameters["foreman_env"] != "staging" {
		t.Fatalf("enc_environment false: %+v", enc)
	}
}

// rawExec changes the database behind the store's back (what no API allows).
func rawExec(t *testing.T, db storetest.Database, stmt string) {
	t.Helper()
	driver, dsn := "sqlite", "file:"+db.URL+"?_pragma=busy_timeout(10000)"
	if db.Kind == "postgres" {
		driver, dsn = "pgx", db.URL
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
}
