package api_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// closedURL is an https URL where nothing listens.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

func TestSmartProxies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		p := realProxy(t, c.CA, nil)
		for _, prefix := range prefixes {
			t.Run(prefix, func(t *testing.T) {
				base := c.URL + prefix + "/smart_proxies"
				name := "proxy" + fmt.Sprint(len(prefix)) + ".example.test"
				// The installer's search before registering: nothing yet.
				empty := coretest.Do(t, c.User, "GET", base+"?search="+url.QueryEscape(`name="`+name+`"`), nil).Expect(t, 200)
				if empty.JSON["subtotal"] != 0.0 || len(empty.Results()) != 0 || empty.JSON["search"] != `name="`+name+`"` {
					t.Fatalf("search before create: %s", empty.Body)
				}

				created := coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": name, "url": p.URL + "/"}}).Expect(t, 201)
				if featureNames(created.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" || created.JSON["url"] != p.URL || created.JSON["hosts_count"] != 0.0 {
					t.Fatalf("created %s", created.Body)
				}
				id := created.ID(t)

				found := coretest.Do(t, c.User, "GET", base+"?search="+url.QueryEscape(`name="`+name+`"`), nil).Expect(t, 200)
				if r := found.Results(); found.JSON["subtotal"] != 1.0 || len(r) != 1 || r[0]["id"] != float64(id) || featureNames(r[0]) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("search %s", found.Body)
				}
				if r := coretest.Do(t, c.User, "GET", base+"?name="+name, nil).Expect(t, 200).Results(); len(r) != 1 {
					t.Fatalf("name= shortcut: %v", r)
				}
				for _, ref := range []string{fmt.Sprint(id), name, fmt.Sprintf("%d-%s", id, name)} {
					show := coretest.Do(t, c.User, "GET", base+"/"+ref, nil).Expect(t, 200)
					if show.JSON["name"] != name || show.JSON["locations"] == nil {
						t.Fatalf("show %s: %s", ref, show.Body)
					}
				}
				coretest.Do(t, c.User, "GET", base+"/nope.example.test", nil).ExpectFull(t, 404, "Resource smart_proxy not found by id 'nope.example.test'")

				// Validation (no proxy called) and discovery failures.
				coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": name, "url": p.URL}}).
					ExpectFull(t, 422, "Name has already been taken", "Url has already been taken")
				coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "", "url": "ftp://x"}}).
					ExpectFull(t, 422, "Name can't be blank", "Url URL must be valid and schema must be one of http and https")
				down := closedURL(t)
				coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "down-" + name, "url": down}}).
					ExpectFull(t, 422,
						"Unable to communicate with the proxy: Unable to detect features (dial tcp "+down[len("https://"):]+": connect: connection refused) for proxy "+down+"/v2/features",
						"Please check the proxy is configured and running on the host.")
				coretest.Do(t, c.User, "POST", base, `{"smart_proxy":`).Expect(t, 400)
				coretest.Do(t, c.User, "POST", base, `{"smart_proxy":{"name":7}}`).ExpectFull(t, 422, "Name is invalid (expected string, got a JSON number)")

				// Update: a new name keeps the features; a URL nobody answers is refused and changes nothing.
				renamed := coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"smart_proxy": map[string]any{"name": "re-" + name}}).Expect(t, 200)
				if renamed.JSON["name"] != "re-"+name || featureNames(renamed.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("renamed %s", renamed.Body)
				}
				refused := coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"smart_proxy": map[string]any{"url": down}})
				refused.Expect(t, 422)
				if refused.JSON["error"].(map[string]any)["id"] != float64(id) {
					t.Fatalf("422 id: %s", refused.Body)
				}
				if still := coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).Expect(t, 200); still.JSON["url"] != p.URL {
					t.Fatalf("url changed by a refused update: %s", still.Body)
				}

				refreshed := coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/refresh"), "").Expect(t, 200)
				if featureNames(refreshed.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("refresh %s", refreshed.Body)
				}
				coretest.Do(t, c.User, "PUT", base+"/999999/refresh", "").ExpectFull(t, 404, "Resource smart_proxy not found by id '999999'")

				version := coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/version"), nil).Expect(t, 200)
				if version.JSON["success"] != true || version.JSON["result"].(map[string]any)["version"] != "3.11.0" {
					t.Fatalf("version %s", version.Body)
				}
				logs := coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/logs?from_timestamp=0"), nil).Expect(t, 200)
				if logs.JSON["success"] != true || logs.JSON["result"] == nil {
					t.Fatalf("logs %s", logs.Body)
				}
				coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/logs?from_timestamp=yesterday"), nil).Expect(t, 400)

				// Subnet import from the proxy's DHCP server: 201 once, then 204.
				if prefix == "/api/v2" {
					imported := coretest.Do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").Expect(t, 201)
					r := imported.Results()
					if len(r) != 1 || r[0]["name"] != "192.168.122.0/24" || r[0]["gateway"] != "192.168.122.1" || r[0]["dns_primary"] != "192.168.122.2" ||
						r[0]["dns_secondary"] != "192.168.122.3" || r[0]["from"] != "192.168.122.100" || r[0]["to"] != "192.168.122.200" || r[0]["dhcp_id"] != float64(id) {
						t.Fatalf("imported %s", imported.Body)
					}
					coretest.Do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").Expect(t, 204)
					// Referenced by the imported subnet: destroy refused.
					coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).ExpectFull(t, 422, "re-"+name+" is used by 192.168.122.0/24")
					coretest.Do(t, c.User, "DELETE", c.URL+prefix+"/subnets/192.168.122.0%2F24", nil).Expect(t, 200)
				}

				// The installer's foreman_smartproxy_host: the proxy's host gets the facet.
				host := coretest.Do(t, c.User, "POST", c.URL+prefix+"/hosts", map[string]any{"host": map[string]any{"name": "h-" + name}}).Expect(t, 201)
				if _, has := host.JSON["infrastructure_facet"]; has {
					t.Fatalf("a new host has an infrastructure_facet: %s", host.Body)
				}
				hid := host.ID(t)
				coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/", hid), "").Expect(t, 201)
				coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/", hid), "").Expect(t, 200)
				coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/999999"), "").ExpectFull(t, 404, "Resource host not found by id '999999'")
				listed := coretest.Do(t, c.User, "GET", c.URL+prefix+"/hosts?search="+url.QueryEscape(`name="h-`+name+`"`), nil).Expect(t, 200)
				if f := listed.Results()[0]["infrastructure_facet"].(map[string]any); f["smart_proxy_id"] != float64(id) {
					t.Fatalf("facet %s", listed.Body)
				}
				if show := coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).Expect(t, 200); show.JSON["hosts_count"] != 1.0 {
					t.Fatalf("hosts_count %s", show.Body)
				}
				coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).ExpectFull(t, 422, "re-"+name+" is used by h-"+name)
				coretest.Do(t, c.User, "DELETE", fmt.Sprint(c.URL+prefix+"/hosts/", hid), nil).Expect(t, 200)

				deleted := coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).Expect(t, 200)
				if deleted.JSON["name"] != "re-"+name {
					t.Fatalf("delete answer %s", deleted.Body)
				}
				coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).Expect(t, 404)
				coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).Expect(t, 404)
			})
		}
	})
}

// A proxy whose TFTP failed to start is stored with the rest; one without DHCP cannot
// import subnets; version and logs of a proxy that went down are 422.
func TestSmartProxyPartialAndDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		p := realProxy(t, c.CA, map[string]string{
			"tftp.yml": ":enabled: true\n:tftproot: " + t.TempDir() + "\n:listen: not-an-address\n",
			"dhcp.yml": ":enabled: false\n",
		})
		base := c.URL + "/api/v2/smart_proxies"
		created := coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "partial", "url": p.URL}}).Expect(t, 201)
		if featureNames(created.JSON) != "DNS,HTTPBoot,Logs" {
			t.Fatalf("features %s", created.Body)
		}
		id := created.ID(t)
		coretest.Do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").
			ExpectFull(t, 422, "Smart proxy partial does not have the DHCP feature")

		// A registered proxy that is down.
		down := closedURL(t)
		ctx := context.Background()
		sp := store.SmartProxy{Name: "gone", URL: down, Features: []store.Feature{{Name: "Logs"}, {Name: "DHCP"}}}
		if err := c.Store.CreateSmartProxy(ctx, &sp); err != nil {
			t.Fatal(err)
		}
		host := down[len("https://"):]
		coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", sp.ID, "/version"), nil).ExpectFull(t, 422,
			"Unable to get the version of proxy gone: Get \""+down+"/version\": dial tcp "+host+": connect: connection refused")
		coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", sp.ID, "/logs"), nil).Expect(t, 422)
		coretest.Do(t, c.User, "POST", fmt.Sprint(base, "/", sp.ID, "/import_subnets"), "").Expect(t, 422)
		coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", sp.ID, "/refresh"), "").ExpectFull(t, 422,
			"Unable to communicate with the proxy: Unable to detect features (dial tcp "+host+": connect: connection refused) for proxy "+down+"/v2/features",
			"Please check the proxy is configured and running on the host.")
		// The failed refresh kept the stored features.
		if show := coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/gone"), nil).Expect(t, 200); featureNames(show.JSON) != "DHCP,Logs" {
			t.Fatalf("after failed refresh %s", show.Body)
		}
	})
}

func TestSmartProxyStatusAndVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		p := realProxy(t, c.CA, nil)
		base := c.URL + "/api/v2/smart_proxies"
		coretest.Do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "up", "url": p.URL}}).Expect(t, 201)
		down := store.SmartProxy{Name: "down", URL: closedURL(t), Features: []store.Feature{{Name: "Logs"}}}
		if err := c.Store.CreateSmartProxy(context.Background(), &down); err != nil {
			t.Fatal(err)
		}
		list := coretest.Do(t, c.User, "GET", base+"?include_status=true", nil).Expect(t, 200)
		got := map[string]any{}
		for _, r := range list.Results() {
			got[r["name"].(string)] = r["status"]
		}
		if got["up"] != "ok" || got["down"] != "FAIL" {
			t.Fatalf("status %v", got)
		}
		if r := coretest.Do(t, c.User, "GET", base, nil).Expect(t, 200).Results(); r[0]["status"] != nil {
			t.Fatalf("status without include_status: %v", r[0])
		}
		show := coretest.Do(t, c.User, "GET", base+"/up?include_version=true", nil).Expect(t, 200)
		if show.JSON["version"] != "3.11.0" {
			t.Fatalf("version %s", show.Body)
		}
		for _, f := range show.JSON["features"].([]any) {
			if f.(map[string]any)["version"] != "3.11.0" {
				t.Fatalf("feature version %s", show.Body)
			}
		}
		if show := coretest.Do(t, c.User, "GET", base+"/down?include_version=true", nil).Expect(t, 200); show.JSON["version"] != "N/A" {
			t.Fatalf("version of a proxy that is down: %s", show.Body)
		}
	})
}
