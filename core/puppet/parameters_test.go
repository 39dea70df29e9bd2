package puppet_test

import (
	"fmt"
	"testing"

	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

func TestParameters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		w := setupWorld(t, c)
		for _, prefix := range prefixes {
			for _, base := range []string{
				"/common_parameters",
				fmt.Sprintf("/domains/%d/parameters", w.domain),
				"/domains/example.test/parameters",
				fmt.Sprintf("/subnets/%d/parameters", w.subnet),
				fmt.Sprintf("/operatingsystems/%d/parameters", w.os),
				fmt.Sprintf("/hosts/%d/parameters", w.host),
				"/hosts/web01.example.test/parameters",
			} {
				t.Run(prefix+base, func(t *testing.T) {
					url := c.URL + prefix + base
					created := coretest.Do(t, c.User, "POST", url, map[string]any{"parameter": map[string]any{"name": "ntp_servers", "value": []string{"a", "b"}}}).Expect(t, 201)
					if created.JSON["value"] != `["a","b"]` || created.JSON["parameter_type"] != "string" {
						t.Fatalf("created %s", created.Body)
					}
					id := created.ID(t)
					coretest.Do(t, c.User, "POST", url, map[string]any{"parameter": map[string]any{"name": "ntp_servers", "value": "x"}}).ExpectFull(t, 422, "Name has already been taken")
					coretest.Do(t, c.User, "POST", url, map[string]any{"parameter": map[string]any{"name": " ", "value": "x"}}).ExpectFull(t, 422, "Name can't be blank")
					coretest.Do(t, c.User, "POST", url, map[string]any{"parameter": map[string]any{"name": "two words"}}).ExpectFull(t, 422, "Name can't contain spaces")
					coretest.Do(t, c.User, "POST", url, `{"parameter": [`).Expect(t, 400)
					found := false
					for _, p := range coretest.Do(t, c.User, "GET", url, nil).Expect(t, 200).Results() {
						found = found || p["name"] == "ntp_servers"
					}
					if !found {
						t.Fatal("not listed")
					}
					updated := coretest.Do(t, c.User, "PUT", fmt.Sprint(url, "/", id), map[string]any{"parameter": map[string]any{"value": "pool.ntp.org"}}).Expect(t, 200)
					if updated.JSON["value"] != "pool.ntp.org" || updated.JSON["name"] != "ntp_servers" {
						t.Fatalf("updated %s", updated.Body)
					}
					if got := coretest.Do(t, c.User, "GET", fmt.Sprint(url, "/", id), nil).Expect(t, 200); got.JSON["value"] != "pool.ntp.org" {
						t.Fatalf("show %s", got.Body)
					}
					coretest.Do(t, c.User, "DELETE", fmt.Sprint(url, "/", id), nil).Expect(t, 200)
					coretest.Do(t, c.User, "DELETE", fmt.Sprint(url, "/", id), nil).ExpectFull(t, 404, fmt.Sprintf("Resource parameter not found by id '%d'", id))
					coretest.Do(t, c.User, "PUT", fmt.Sprint(url, "/", id), map[string]any{"value": "x"}).Expect(t, 404)
					coretest.Do(t, c.User, "GET", url+"/abc", nil).Expect(t, 404)
					coretest.Do(t, c.Anon, "GET", url, nil).Expect(t, 401)
				})
			}
		}
		// Renaming onto a name taken at the same level is refused; another level's is fine.
		base := c.URL + "/api/v2/common_parameters"
		list := coretest.Do(t, c.User, "GET", base, nil).Expect(t, 200).Results()
		coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", list[0]["id"]), map[string]any{"common_parameter": map[string]any{"name": list[1]["name"]}}).ExpectFull(t, 422, "Name has already been taken")
		for path, resource := range map[string]string{"/domains/999/parameters": "domain", "/domains/nope.test/parameters": "domain",
			"/subnets/999/parameters": "subnet", "/subnets/x/parameters": "subnet", "/operatingsystems/999/parameters": "operatingsystem",
			"/hosts/nope/parameters": "host"} {
			ref := map[string]string{"domain": "999", "subnet": "999", "operatingsystem": "999", "host": "nope"}[resource]
			if path == "/domains/nope.test/parameters" {
				ref = "nope.test"
			} else if path == "/subnets/x/parameters" {
				ref = "x"
			}
			coretest.Do(t, c.User, "GET", c.URL+"/api/v2"+path, nil).ExpectFull(t, 404, fmt.Sprintf("Resource %s not found by id '%s'", resource, ref))
		}
		// Deleting the owner takes its parameters along.
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/api/v2/hosts/%d", c.URL, w.host), nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/api/v2/operatingsystems/%d", c.URL, w.os), nil).Expect(t, 200)
	})
}

func TestPuppetClasses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		w := setupWorld(t, c) // motd (with values) and ntp on web01, environment staging
		for _, prefix := range prefixes {
			base := c.URL + prefix
			list := coretest.Do(t, c.User, "GET", base+"/puppetclasses", nil).Expect(t, 200)
			if r := list.Results(); len(r) < 2 || r[0]["name"] != "motd" || r[1]["name"] != "ntp" {
				t.Fatalf("classes %s", list.Body)
			}
			if r := coretest.Do(t, c.User, "GET", base+"/puppetclasses?search=name%3Dntp", nil).Expect(t, 200).Results(); len(r) != 1 {
				t.Fatalf("search: %v", r)
			}
			coretest.Do(t, c.User, "GET", base+"/puppetclasses/ntp", nil).Expect(t, 200)
			coretest.Do(t, c.User, "GET", base+"/puppetclasses/nope", nil).ExpectFull(t, 404, "Resource puppetclass not found by id 'nope'")
			puppet := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/hosts/%d/puppet", base, w.host), nil).Expect(t, 200)
			if puppet.JSON["environment"] != "staging" || len(puppet.JSON["puppetclass_ids"].([]any)) != 2 {
				t.Fatalf("host puppet %s", puppet.Body)
			}
			hc := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s/hosts/%d/puppetclasses", base, w.host), nil).Expect(t, 200).Results()
			if len(hc) != 2 || hc[0]["parameters"].(map[string]any)["message"] != "classified by the core" {
				t.Fatalf("host classes %v", hc)
			}
		}
		base := c.URL + "/api/v2"
		apache := coretest.Do(t, c.User, "POST", base+"/puppetclasses", map[string]any{"puppetclass": map[string]any{"name": "apache::mod::ssl"}}).Expect(t, 201).ID(t)
		coretest.Do(t, c.User, "POST", base+"/puppetclasses", map[string]any{"puppetclass": map[string]any{"name": "apache::mod::ssl"}}).ExpectFull(t, 422, "Name has already been taken")
		coretest.Do(t, c.User, "POST", base+"/puppetclasses", map[string]any{"puppetclass": map[string]any{"name": "Bad-Name"}}).ExpectFull(t, 422, "Name is not a Puppet class name")
		coretest.Do(t, c.User, "POST", base+"/puppetclasses", map[string]any{"puppetclass": map[string]any{}}).ExpectFull(t, 422, "Name can't be blank")

		// Foreman's host_classes routes.
		hostURL := fmt.Sprintf("%s/hosts/%d", base, w.host)
		coretest.Do(t, c.User, "POST", hostURL+"/puppetclass_ids", map[string]any{"puppetclass_id": apache}).Expect(t, 201)
		coretest.Do(t, c.User, "POST", hostURL+"/puppetclass_ids", map[string]any{"puppetclass_id": apache}).ExpectFull(t, 422, "Puppetclass has already been taken")
		coretest.Do(t, c.User, "POST", hostURL+"/puppetclass_ids", map[string]any{"puppetclass_id": 99999}).ExpectFull(t, 404, "Resource puppetclass not found by id '99999'")
		coretest.Do(t, c.User, "POST", hostURL+"/puppetclass_ids", map[string]any{}).ExpectFull(t, 422, "Puppetclass can't be blank")
		coretest.Do(t, c.User, "DELETE", base+"/puppetclasses/apache::mod::ssl", nil).ExpectFull(t, 422, "apache::mod::ssl is used by web01.example.test")
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/puppetclass_ids/%d", hostURL, apache), nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprintf("%s/puppetclass_ids/%d", hostURL, apache), nil).Expect(t, 404)
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/puppetclasses/", apache), nil).Expect(t, 200)
		coretest.Do(t, c.User, "POST", base+"/hosts/nope/puppetclass_ids", map[string]any{"puppetclass_id": 1}).Expect(t, 404)

		// PUT /puppet replaces the class list: ids and names together, names as a list.
		ntp := coretest.Do(t, c.User, "GET", base+"/puppetclasses/ntp", nil).Expect(t, 200).ID(t)
		put := coretest.Do(t, c.User, "PUT", hostURL+"/puppet", map[string]any{"puppetclass_ids": []int64{ntp}, "puppet_classes": []string{"base"}}).Expect(t, 200)
		if len(put.JSON["puppetclass_ids"].([]any)) != 2 || put.JSON["environment"] != "staging" {
			t.Fatalf("put %s", put.Body)
		}
		for body, msg := range map[string]string{
			`{"environment": "Not An Env"}`:        "Environment is not a Puppet environment name",
			`{"puppetclass_ids": [99999]}`:         "Puppetclass ids 99999 is not a Puppet class",
			`{"puppet_classes": {"motd": "text"}}`: "Puppet classes motd: class parameters must be an object or null",
			`{"puppet_classes": ["Bad"]}`:          `Puppet classes "Bad" is not a Puppet class name`,
			`{"puppet_classes": 7}`:                "Puppet classes must be a list of class names or an object of class parameters",
		} {
			coretest.Do(t, c.User, "PUT", hostURL+"/puppet", body).ExpectFull(t, 422, msg)
		}
		coretest.Do(t, c.User, "PUT", base+"/hosts/nope/puppet", map[string]any{}).Expect(t, 404)
		coretest.Do(t, c.User, "GET", base+"/hosts/nope/puppet", nil).Expect(t, 404)
		coretest.Do(t, c.User, "GET", base+"/hosts/nope/puppetclasses", nil).Expect(t, 404)
		coretest.Do(t, c.Anon, "GET", base+"/puppetclasses", nil).Expect(t, 401)
	})
}
