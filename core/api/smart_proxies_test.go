package api_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
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
				empty := do(t, c.User, "GET", base+"?search="+url.QueryEscape(`name="`+name+`"`), nil).expect(t, 200)
				if empty.JSON["subtotal"] != 0.0 || len(results(empty)) != 0 || empty.JSON["search"] != `name="`+name+`"` {
					t.Fatalf("search before create: %s", empty.Body)
				}

				created := do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": name, "url": p.URL + "/"}}).expect(t, 201)
				if featureNames(created.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" || created.JSON["url"] != p.URL || created.JSON["hosts_count"] != 0.0 {
					t.Fatalf("created %s", created.Body)
				}
				id := created.id(t)

				found := do(t, c.User, "GET", base+"?search="+url.QueryEscape(`name="`+name+`"`), nil).expect(t, 200)
				if r := results(found); found.JSON["subtotal"] != 1.0 || len(r) != 1 || r[0]["id"] != float64(id) || featureNames(r[0]) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("search %s", found.Body)
				}
				if r := results(do(t, c.User, "GET", base+"?name="+name, nil).expect(t, 200)); len(r) != 1 {
					t.Fatalf("name= shortcut: %v", r)
				}
				for _, ref := range []string{fmt.Sprint(id), name, fmt.Sprintf("%d-%s", id, name)} {
					show := do(t, c.User, "GET", base+"/"+ref, nil).expect(t, 200)
					if show.JSON["name"] != name || show.JSON["locations"] == nil {
						t.Fatalf("show %s: %s", ref, show.Body)
					}
				}
				do(t, c.User, "GET", base+"/nope.example.test", nil).expectMessages(t, 404, "Resource smart_proxy not found by id 'nope.example.test'")

				// Validation (no proxy called) and discovery failures.
				do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": name, "url": p.URL}}).
					expectMessages(t, 422, "Name has already been taken", "Url has already been taken")
				do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "", "url": "ftp://x"}}).
					expectMessages(t, 422, "Name can't be blank", "Url URL must be valid and schema must be one of http and https")
				down := closedURL(t)
				do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "down-" + name, "url": down}}).
					expectMessages(t, 422,
						"Unable to communicate with the proxy: Unable to detect features (dial tcp "+down[len("https://"):]+": connect: connection refused) for proxy "+down+"/v2/features",
						"Please check the proxy is configured and running on the host.")
				do(t, c.User, "POST", base, `{"smart_proxy":`).expect(t, 400)
				do(t, c.User, "POST", base, `{"smart_proxy":{"name":7}}`).expectMessages(t, 422, "Name is invalid (expected string, got a JSON number)")

				// Update: a new name keeps the features; a URL nobody answers is refused and changes nothing.
				renamed := do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"smart_proxy": map[string]any{"name": "re-" + name}}).expect(t, 200)
				if renamed.JSON["name"] != "re-"+name || featureNames(renamed.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("renamed %s", renamed.Body)
				}
				refused := do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"smart_proxy": map[string]any{"url": down}})
				refused.expect(t, 422)
				if refused.JSON["error"].(map[string]any)["id"] != float64(id) {
					t.Fatalf("422 id: %s", refused.Body)
				}
				if still := do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).expect(t, 200); still.JSON["url"] != p.URL {
					t.Fatalf("url changed by a refused update: %s", still.Body)
				}

				refreshed := do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/refresh"), "").expect(t, 200)
				if featureNames(refreshed.JSON) != "DHCP,DNS,HTTPBoot,Logs,TFTP" {
					t.Fatalf("refresh %s", refreshed.Body)
				}
				do(t, c.User, "PUT", base+"/999999/refresh", "").expectMessages(t, 404, "Resource smart_proxy not found by id '999999'")

				version := do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/version"), nil).expect(t, 200)
				if version.JSON["success"] != true || version.JSON["result"].(map[string]any)["version"] != "3.11.0" {
					t.Fatalf("version %s", version.Body)
				}
				logs := do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/logs?from_timestamp=0"), nil).expect(t, 200)
				if logs.JSON["success"] != true || logs.JSON["result"] == nil {
					t.Fatalf("logs %s", logs.Body)
				}
				do(t, c.User, "GET", fmt.Sprint(base, "/", id, "/logs?from_timestamp=yesterday"), nil).expect(t, 400)

				// Subnet import from the proxy's DHCP server: 201 once, then 204.
				if prefix == "/api/v2" {
					imported := do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").expect(t, 201)
					r := results(imported)
					if len(r) != 1 || r[0]["name"] != "192.168.122.0/24" || r[0]["gateway"] != "192.168.122.1" || r[0]["dns_primary"] != "192.168.122.2" ||
						r[0]["dns_secondary"] != "192.168.122.3" || r[0]["from"] != "192.168.122.100" || r[0]["to"] != "192.168.122.200" || r[0]["dhcp_id"] != float64(id) {
						t.Fatalf("imported %s", imported.Body)
					}
					do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").expect(t, 204)
					// Referenced by the imported subnet: destroy refused.
					do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).expectMessages(t, 422, "re-"+name+" is used by 192.168.122.0/24")
					do(t, c.User, "DELETE", c.URL+prefix+"/subnets/192.168.122.0%2F24", nil).expect(t, 200)
				}

				// The installer's foreman_smartproxy_host: the proxy's host gets the facet.
				host := do(t, c.User, "POST", c.URL+prefix+"/hosts", map[string]any{"host": map[string]any{"name": "h-" + name}}).expect(t, 201)
				if _, has := host.JSON["infrastructure_facet"]; has {
					t.Fatalf("a new host has an infrastructure_facet: %s", host.Body)
				}
				hid := host.id(t)
				do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/", hid), "").expect(t, 201)
				do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/", hid), "").expect(t, 200)
				do(t, c.User, "PUT", fmt.Sprint(base, "/", id, "/hosts/999999"), "").expectMessages(t, 404, "Resource host not found by id '999999'")
				listed := do(t, c.User, "GET", c.URL+prefix+"/hosts?search="+url.QueryEscape(`name="h-`+name+`"`), nil).expect(t, 200)
				if f := results(listed)[0]["infrastructure_facet"].(map[string]any); f["smart_proxy_id"] != float64(id) {
					t.Fatalf("facet %s", listed.Body)
				}
				if show := do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).expect(t, 200); show.JSON["hosts_count"] != 1.0 {
					t.Fatalf("hosts_count %s", show.Body)
				}
				do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).expectMessages(t, 422, "re-"+name+" is used by h-"+name)
				do(t, c.User, "DELETE", fmt.Sprint(c.URL+prefix+"/hosts/", hid), nil).expect(t, 200)

				deleted := do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).expect(t, 200)
				if deleted.JSON["name"] != "re-"+name {
					t.Fatalf("delete answer %s", deleted.Body)
				}
				do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).expect(t, 404)
				do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).expect(t, 404)
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
		created := do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "partial", "url": p.URL}}).expect(t, 201)
		if featureNames(created.JSON) != "DNS,HTTPBoot,Logs" {
			t.Fatalf("features %s", created.Body)
		}
		id := created.id(t)
		do(t, c.User, "POST", fmt.Sprint(base, "/", id, "/import_subnets"), "").
			expectMessages(t, 422, "Smart proxy partial does not have the DHCP feature")

		// A registered proxy that is down.
		down := closedURL(t)
		ctx := context.Background()
		sp := store.SmartProxy{Name: "gone", URL: down, Features: []store.Feature{{Name: "Logs"}, {Name: "DHCP"}}}
		if err := c.Store.CreateSmartProxy(ctx, &sp); err != nil {
			t.Fatal(err)
		}
		host := down[len("https://"):]
		do(t, c.User, "GET", fmt.Sprint(base, "/", sp.ID, "/version"), nil).expectMessages(t, 422,
			"Unable to get the version of proxy gone: Get \""+down+"/version\": dial tcp "+host+": connect: connection refused")
		do(t, c.User, "GET", fmt.Sprint(base, "/", sp.ID, "/logs"), nil).expect(t, 422)
		do(t, c.User, "POST", fmt.Sprint(base, "/", sp.ID, "/import_subnets"), "").expect(t, 422)
		do(t, c.User, "PUT", fmt.Sprint(base, "/", sp.ID, "/refresh"), "").expectMessages(t, 422,
			"Unable to communicate with the proxy: Unable to detect features (dial tcp "+host+": connect: connection refused) for proxy "+down+"/v2/features",
			"Please check the proxy is configured and running on the host.")
		// The failed refresh kept the stored features.
		if show := do(t, c.User, "GET", fmt.Sprint(base, "/gone"), nil).expect(t, 200); featureNames(show.JSON) != "DHCP,Logs" {
			t.Fatalf("after failed refresh %s", show.Body)
		}
	})
}

func TestSmartProxyStatusAndVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		p := realProxy(t, c.CA, nil)
		base := c.URL + "/api/v2/smart_proxies"
		do(t, c.User, "POST", base, map[string]any{"smart_proxy": map[string]any{"name": "up", "url": p.URL}}).expect(t, 201)
		down := store.SmartProxy{Name: "down", URL: closedURL(t), Features: []store.Feature{{Name: "Logs"}}}
		if err := c.Store.CreateSmartProxy(context.Background(), &down); err != nil {
			t.Fatal(err)
		}
		list := do(t, c.User, "GET", base+"?include_status=true", nil).expect(t, 200)
		got := map[string]any{}
		for _, r := range results(list) {
			got[r["name"].(string)] = r["status"]
		}
		if got["up"] != "ok" || got["down"] != "FAIL" {
			t.Fatalf("status %v", got)
		}
		if r := results(do(t, c.User, "GET", base, nil).expect(t, 200)); r[0]["status"] != nil {
			t.Fatalf("status without include_status: %v", r[0])
		}
		show := do(t, c.User, "GET", base+"/up?include_version=true", nil).expect(t, 200)
		if show.JSON["version"] != "3.11.0" {
			t.Fatalf("version %s", show.Body)
		}
		for _, f := range show.JSON["features"].([]any) {
			if f.(map[string]any)["version"] != "3.11.0" {
				t.Fatalf("feature version %s", show.Body)
			}
		}
		if show := do(t, c.User, "GET", base+"/down?include_version=true", nil).expect(t, 200); show.JSON["version"] != "N/A" {
			t.Fatalf("version of a proxy that is down: %s", show.Body)
		}
	})
}
