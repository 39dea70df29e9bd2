package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

func TestHosts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		v2 := c.URL + "/api/v2"
		d := coretest.Do(t, c.User, "POST", v2+"/domains", map[string]any{"domain": map[string]any{"name": "example.test"}}).Expect(t, 201).ID(t)
		n := coretest.Do(t, c.User, "POST", v2+"/subnets", map[string]any{"subnet": map[string]any{"name": "lan", "network": "192.0.2.0", "cidr": 24}}).Expect(t, 201).ID(t)
		osID := coretest.Do(t, c.User, "POST", v2+"/operatingsystems", map[string]any{"operatingsystem": map[string]any{"name": "CentOS", "major": "9",
			"family": "Redhat", "pxe_loaders": []string{"PXELinux BIOS"}}}).Expect(t, 201).ID(t)

		created := coretest.Do(t, c.User, "POST", v2+"/hosts", map[string]any{"host": map[string]any{"name": "Web01", "domain_id": d, "subnet_id": n,
			"mac": "52-54-00-AA-BB-01", "ip": "192.0.2.10", "operatingsystem_id": osID, "pxe_loader": "PXELinux BIOS", "build": true,
			"host_parameters_attributes": []map[string]string{{"name": "role", "value": "web"}, {"name": "tier", "value": "1"}}}}).Expect(t, 201)
		want := map[string]any{"name": "web01.example.test", "certname": "web01.example.test", "mac": "52:54:00:aa:bb:01", "ip": "192.0.2.10",
			"domain_name": "example.test", "subnet_name": "lan", "operatingsystem_name": "CentOS 9", "pxe_loader": "PXELinux BIOS", "build": true,
			"architecture_id": nil, "medium_name": nil}
		for k, v := range want {
			if created.JSON[k] != v {
				t.Errorf("%s = %v, want %v", k, created.JSON[k], v)
			}
		}
		params := created.JSON["parameters"].([]any)
		if len(params) != 2 || params[0].(map[string]any)["name"] != "role" || params[1].(map[string]any)["value"] != "1" {
			t.Errorf("parameters %v", params)
		}
		id := created.ID(t)

		cases := []struct {
			attrs map[string]any
			want  []string
		}{
			{map[string]any{"mac": "52:54:00"}, []string{"Name can't be blank", "Mac is invalid"}},
			{map[string]any{"name": "web01.example.test"}, []string{"Name has already been taken"}},
			{map[string]any{"name": "under_score.example.test"}, []string{"Name is invalid"}},
			{map[string]any{"name": "h2", "subnet_id": n, "ip": "198.51.100.1"}, []string{"Ip does not match selected subnet"}},
			{map[string]any{"name": "h2", "ip": "300.1.1.1"}, []string{"Ip is invalid"}},
			{map[string]any{"name": "h2", "operatingsystem_id": osID, "pxe_loader": "Grub2 UEFI"}, []string{"Pxe loader is not one of the PXE loaders of CentOS 9 (PXELinux BIOS)"}},
			{map[string]any{"name": "h2", "pxe_loader": "Floppy"}, []string{"Pxe loader is not included in the list"}},
			{map[string]any{"name": "h2", "domain_id": 999999, "subnet_id": 999998, "medium_id": 999997},
				[]string{"Domain not found: no domain with id 999999", "Subnet not found: no subnet with id 999998", "Medium not found: no medium with id 999997"}},
			{map[string]any{"name": "h2", "host_parameters_attributes": []map[string]string{{"name": "a"}, {"name": "a"}, {"name": ""}}},
				[]string{"Host parameters.name has already been taken", "Host parameters.name can't be blank"}},
			{map[string]any{"name": "h2", "build": "yes"}, []string{"Build is invalid (expected bool, got a JSON string)"}},
		}
		for _, tc := range cases {
			coretest.Do(t, c.User, "POST", v2+"/hosts", map[string]any{"host": tc.attrs}).ExpectFull(t, 422, tc.want...)
		}

		// Update: only what is sent changes; parameters are replaced when sent.
		up := coretest.Do(t, c.User, "PUT", fmt.Sprint(v2, "/hosts/", id), map[string]any{"host": map[string]any{"build": false,
			"host_parameters_attributes": []map[string]string{{"name": "role", "value": "db"}}}}).Expect(t, 200)
		if up.JSON["build"] != false || up.JSON["mac"] != "52:54:00:aa:bb:01" || len(up.JSON["parameters"].([]any)) != 1 {
			t.Fatalf("update %s", up.Body)
		}
		coretest.Do(t, c.User, "PUT", fmt.Sprint(v2, "/hosts/", id), map[string]any{"host": map[string]any{"ip": "10.0.0.1"}}).
			ExpectFull(t, 422, "Ip does not match selected subnet")
		show := coretest.Do(t, c.User, "GET", v2+"/hosts/web01.example.test", nil).Expect(t, 200)
		if show.JSON["ip"] != "192.0.2.10" || show.ID(t) != id {
			t.Fatalf("show %s", show.Body)
		}
		coretest.Do(t, c.User, "GET", v2+"/hosts/nope.example.test", nil).ExpectFull(t, 404, "Resource host not found by id 'nope.example.test'")

		// Index: search, paging, order.
		for i := 2; i <= 25; i++ {
			coretest.Do(t, c.User, "POST", v2+"/hosts", map[string]any{"host": map[string]any{"name": fmt.Sprintf("node%02d", i), "domain_id": d}}).Expect(t, 201)
		}
		page := coretest.Do(t, c.User, "GET", v2+"/hosts?page=2&per_page=10&order=name+DESC", nil).Expect(t, 200)
		r := page.Results()
		if page.JSON["total"] != 25.0 || page.JSON["subtotal"] != 25.0 || page.JSON["page"] != 2.0 || page.JSON["per_page"] != 10.0 ||
			len(r) != 10 || r[0]["name"] != "node16.example.test" || !reflect.DeepEqual(page.JSON["sort"], map[string]any{"by": "name", "order": "DESC"}) {
			t.Fatalf("page %s", page.Body)
		}
		for q, want := range map[string]float64{
			`name = web01.example.test`:               1,
			`name ~ node1`:                            10,
			`domain = example.test and name !~ node`:  1,
			`mac = 52:54:00:aa:bb:01`:                 1,
			`build = false and domain = example.test`: 25,
			`subnet = lan`:                            1,
			`os = CentOS`:                             1,
			`node2`:                                   6,
			// or, not and parentheses as Foreman's scoped search has them.
			`name ~ node02 or name ~ web01`:                    2,
			`name ~ node1 or name ~ node2 and build = true`:    10,
			`(name ~ node1 or name ~ node2) and build = false`: 16,
			`not (os = CentOS)`:                                24, // hosts without an OS too
			`!(name ~ node) and !(os = CentOS)`:                0,
			`not name ~ node`:                                  1,
			`id >= 1 and id < 1000000`:                         25,
			`id < 1`:                                           0,
			`name ~ node1 || (subnet = lan & os = CentOS)`:     11,
			// In a list, not in a list, set? and null?.
			`os ^ (CentOS, Debian)`: 1,
			`os !^ (CentOS)`:        24, // hosts without an OS too
			`name ^ (node02.example.test, "node03.example.test", nope)`: 2,
			`set? ip`:                    1,
			`null? subnet`:               24,
			`set? os and subnet ^ (lan)`: 1,
			`not null? os or name ^ (node02.example.test, node03.example.test)`: 3,
		} {
			got := coretest.Do(t, c.User, "GET", v2+"/hosts?search="+url.QueryEscape(q), nil).Expect(t, 200)
			if got.JSON["subtotal"] != want || got.JSON["total"] != 25.0 {
				t.Errorf("search %q: subtotal %v, want %v", q, got.JSON["subtotal"], want)
			}
		}
		// What scoped search cannot run is Foreman's 400 param_error.
		for q, want := range map[string]string{
			`colour = red`:                "Field 'colour' not recognized for searching!",
			`name = "x`:                   `Invalid search query: unterminated quoted value at position 10 in "name = \"x"`,
			`(name ~ node or os = CentOS`: `Invalid search query: "(" without a matching ")" at position 1`,
			`name ~ node )`:               `Invalid search query: ")" without a matching "(" at position 13`,
			`name ~ node or`:              `Invalid search query: expected a condition after "or" at position 15`,
			`not`:                         `Invalid search query: expected a condition after "not" at position 4`,
			`id = x or name ~ node`:       "Value 'x' is not valid for field 'id'",
			`name < x`:                    "Operator '<' is not valid for field 'name'",
			`not (colour = red)`:          "Field 'colour' not recognized for searching!",
			`name ^ (node02`:              `Invalid search query: "(" without a matching ")" at position 8`,
			`name ^ node02`:               `Invalid search query: expected a list in parentheses after ^, as in name ^ (a, b) at position 8`,
			`null?`:                       `Invalid search query: expected a field name after "null?" at position 6`,
			`set? colour`:                 "Field 'colour' not recognized for searching!",
			`id !^ (1, x)`:                "Value 'x' is not valid for field 'id'",
		} {
			coretest.Do(t, c.User, "GET", v2+"/hosts?search="+url.QueryEscape(q), nil).ExpectSearchError(t, want)
		}
		coretest.Do(t, c.User, "GET", v2+"/hosts?order=colour", nil).ExpectSearchError(t, "Field 'colour' not recognized for sorting!")

		deleted := coretest.Do(t, c.User, "DELETE", fmt.Sprint(v2, "/hosts/", id), nil).Expect(t, 200)
		if deleted.JSON["name"] != "web01.example.test" {
			t.Fatalf("delete %s", deleted.Body)
		}
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(v2, "/hosts/", id), nil).Expect(t, 404)
	})
}

// failingOrchestrator stands for issue 12's orchestration failing at a step: the
// host must not be written, and the client gets 422 naming the step.
type failingOrchestrator struct{ api.NoOrchestrator }

func (failingOrchestrator) Create(context.Context, *store.Host, func(context.Context) error) error {
	return &api.TaskError{Messages: []string{"Create DHCP Settings for web.example.test task failed with the following error: 409 Conflict"}}
}

func (failingOrchestrator) Destroy(context.Context, store.Host, func(context.Context) error) error {
	return errors.New("not a task error: a server fault")
}

func TestOrchestratorSeam(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db, coreOptions{orchestrator: failingOrchestrator{}})
		coretest.Do(t, c.User, "POST", c.URL+"/api/v2/hosts", map[string]any{"host": map[string]any{"name": "web.example.test"}}).
			ExpectFull(t, 422, "Create DHCP Settings for web.example.test task failed with the following error: 409 Conflict")
		if _, err := c.Store.HostByName(context.Background(), "web.example.test"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("host saved despite the failed orchestration: %v", err)
		}
		// Update goes through (NoOrchestrator), destroy fails as a server error without internals.
		h := store.Host{Name: "db.example.test"}
		c.Store.CreateHost(context.Background(), &h)
		coretest.Do(t, c.User, "PUT", fmt.Sprint(c.URL, "/api/v2/hosts/", h.ID), map[string]any{"host": map[string]any{"mac": "52:54:00:00:00:09"}}).Expect(t, 200)
		gone := coretest.Do(t, c.User, "DELETE", fmt.Sprint(c.URL, "/api/v2/hosts/", h.ID), nil).Expect(t, 500)
		if gone.Body != `{"error":{"message":"Internal server error, see the log of foreman-core"}}`+"\n" {
			t.Fatalf("500 body %q", gone.Body)
		}
	})
}
