package api_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
)

// proxyWith stores a proxy having features, as discovery would have (the routes under
// test only read the features).
func proxyWith(t *testing.T, c *core, name string, features ...string) int64 {
	t.Helper()
	p := store.SmartProxy{Name: name, URL: "https://" + name + ":8443"}
	for _, f := range features {
		p.Features = append(p.Features, store.Feature{Name: f})
	}
	if err := c.Store.CreateSmartProxy(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func TestDomains(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		dnsProxy := proxyWith(t, c, "dns.example.test", "DNS")
		tftpOnly := proxyWith(t, c, "tftp.example.test", "TFTP")
		for _, prefix := range prefixes {
			base := c.URL + prefix + "/domains"
			name := "d" + fmt.Sprint(len(prefix)) + ".example.test"
			created := coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": name, "fullname": "Lab", "dns_id": dnsProxy}}).Expect(t, 201)
			if created.JSON["dns_id"] != float64(dnsProxy) || created.JSON["dns_name"] != "dns.example.test" || created.JSON["fullname"] != "Lab" {
				t.Fatalf("created %s", created.Body)
			}
			id := created.ID(t)
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": name}}).ExpectFull(t, 422, "Name has already been taken")
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": "bad_name!"}}).ExpectFull(t, 422, "Name is invalid")
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{}}).ExpectFull(t, 422, "Name can't be blank")
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": "x.test", "dns_id": tftpOnly}}).
				ExpectFull(t, 422, "Dns does not have the DNS feature")
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": "x.test", "dns_id": 999999}}).
				ExpectFull(t, 422, "Dns not found: no smart proxy with id 999999")
			coretest.Do(t, c.User, "POST", base, map[string]any{"domain": map[string]any{"name": "x.test", "dns_id": "abc"}}).
				ExpectFull(t, 422, `"abc" is not a valid id`)
			// Unwrapped attributes work too (Rails' wrap_parameters).
			coretest.Do(t, c.User, "POST", base, map[string]any{"name": "plain" + fmt.Sprint(len(prefix)) + ".test"}).Expect(t, 201)

			if show := coretest.Do(t, c.User, "GET", base+"/"+name, nil).Expect(t, 200); show.ID(t) != id {
				t.Fatalf("show by name %s", show.Body)
			}
			updated := coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"domain": map[string]any{"dns_id": nil}}).Expect(t, 200)
			if updated.JSON["dns_id"] != nil || updated.JSON["name"] != name || updated.JSON["fullname"] != "Lab" {
				t.Fatalf("updated %s", updated.Body)
			}
			list := coretest.Do(t, c.User, "GET", base+"?search="+url.QueryEscape("name ~ example"), nil).Expect(t, 200)
			if list.JSON["subtotal"] != 1.0 || list.Results()[0]["name"] != name {
				t.Fatalf("search %s", list.Body)
			}
			host := coretest.Do(t, c.User, "POST", c.URL+prefix+"/hosts", map[string]any{"host": map[string]any{"name": "web", "domain_id": id}}).Expect(t, 201)
			if host.JSON["name"] != "web."+name || host.JSON["domain_name"] != name {
				t.Fatalf("host in domain %s", host.Body)
			}
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).ExpectFull(t, 422, name+" is used by web."+name)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(c.URL+prefix+"/hosts/web.", name), nil).Expect(t, 200)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).Expect(t, 200)
			coretest.Do(t, c.User, "GET", fmt.Sprint(base, "/", id), nil).ExpectFull(t, 404, fmt.Sprintf("Resource domain not found by id '%d'", id))
		}
	})
}

func TestSubnets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		all := proxyWith(t, c, "all.example.test", "DHCP", "TFTP", "DNS", "Templates", "HTTPBoot")
		logsOnly := proxyWith(t, c, "logs.example.test", "Logs")
		d := coretest.Do(t, c.User, "POST", c.URL+"/api/v2/domains", map[string]any{"domain": map[string]any{"name": "example.test"}}).Expect(t, 201).ID(t)
		base := c.URL + "/api/v2/subnets"
		full := map[string]any{"name": "lan", "network": "192.0.2.0", "mask": "255.255.255.0", "gateway": "192.0.2.1",
			"dns_primary": "192.0.2.2", "dns_secondary": "198.51.100.2", "from": "192.0.2.100", "to": "192.0.2.200",
			"boot_mode": "Static", "ipam": "Internal DB", "dhcp_id": all, "tftp_id": all, "dns_id": all, "template_id": all,
			"httpboot_id": all, "domain_ids": []int64{d}}
		created := coretest.Do(t, c.User, "POST", base, map[string]any{"subnet": full}).Expect(t, 201)
		for k, want := range map[string]any{"cidr": 24.0, "network_address": "192.0.2.0/24", "tftp_name": "all.example.test",
			"boot_mode": "Static", "ipam": "Internal DB", "from": "192.0.2.100", "httpboot_id": float64(all)} {
			if created.JSON[k] != want {
				t.Errorf("%s = %v, want %v", k, created.JSON[k], want)
			}
		}
		if !reflect.DeepEqual(created.JSON["domain_ids"], []any{float64(d)}) {
			t.Errorf("domain_ids %v", created.JSON["domain_ids"])
		}
		id := created.ID(t)

		cases := []struct {
			attrs map[string]any
			want  []string
		}{
			{map[string]any{}, []string{"Name can't be blank", "Network can't be blank", "Mask can't be blank"}},
			{map[string]any{"name": "lan"}, []string{"Network can't be blank", "Mask can't be blank"}},
			{map[string]any{"name": "n", "network": "10.0.0.1", "mask": "255.255.255.0"}, []string{"Network is not the network address of mask 255.255.255.0"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "mask": "255.0.255.0"}, []string{"Mask is invalid"}},
			{map[string]any{"name": "n", "network": "10.0.0", "cidr": 8}, []string{"Network is invalid"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "gateway": "11.0.0.1", "dns_primary": "x"},
				[]string{"Gateway does not belong to subnet", "Dns primary is invalid"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "from": "10.0.0.9"}, []string{"To must be specified if from is defined"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "from": "10.0.0.9", "to": "10.0.0.1"}, []string{"From can't be bigger than to range"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "boot_mode": "PXE", "ipam": "Excel"},
				[]string{"Boot mode is not included in the list", "Ipam is not included in the list"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "dhcp_id": logsOnly, "tftp_id": logsOnly},
				[]string{"Dhcp does not have the DHCP feature", "Tftp does not have the TFTP feature"}},
			{map[string]any{"name": "n", "network": "10.0.0.0", "cidr": 8, "domain_ids": []int{999999}},
				[]string{"Domain ids not found: no domain with id 999999"}},
		}
		for _, tc := range cases {
			coretest.Do(t, c.User, "POST", base, map[string]any{"subnet": tc.attrs}).ExpectFull(t, 422, tc.want...)
		}
		coretest.Do(t, c.User, "POST", base, map[string]any{"subnet": full}).ExpectFull(t, 422, "Name has already been taken")

		// Update keeps what is not sent, domain links included.
		updated := coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"subnet": map[string]any{"gateway": "192.0.2.254", "dhcp_id": nil}}).Expect(t, 200)
		if updated.JSON["gateway"] != "192.0.2.254" || updated.JSON["dhcp_id"] != nil || updated.JSON["tftp_id"] != float64(all) ||
			!reflect.DeepEqual(updated.JSON["domain_ids"], []any{float64(d)}) {
			t.Fatalf("updated %s", updated.Body)
		}
		coretest.Do(t, c.User, "PUT", fmt.Sprint(base, "/", id), map[string]any{"subnet": map[string]any{"gateway": "10.9.9.9"}}).
			ExpectFull(t, 422, "Gateway does not belong to subnet")
		if show := coretest.Do(t, c.User, "GET", base+"/lan", nil).Expect(t, 200); show.JSON["gateway"] != "192.0.2.254" {
			t.Fatalf("a refused update changed the subnet: %s", show.Body)
		}
		list := coretest.Do(t, c.User, "GET", base+"?search="+url.QueryEscape("domain = example.test"), nil).Expect(t, 200)
		if list.JSON["subtotal"] != 1.0 {
			t.Fatalf("search by domain %s", list.Body)
		}

		host := coretest.Do(t, c.User, "POST", c.URL+"/api/v2/hosts", map[string]any{"host": map[string]any{"name": "h1.example.test", "subnet_id": id, "ip": "192.0.2.10"}}).Expect(t, 201)
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).ExpectFull(t, 422, "lan is used by h1.example.test")
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(c.URL+"/api/v2/hosts/", host.ID(t)), nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).Expect(t, 200)
		coretest.Do(t, c.User, "DELETE", fmt.Sprint(base, "/", id), nil).Expect(t, 404)
		// The domain's link went with the subnet; the domain stays.
		coretest.Do(t, c.User, "GET", fmt.Sprint(c.URL+"/api/v2/domains/", d), nil).Expect(t, 200)
	})
}

func TestArchitecturesOperatingSystemsMedia(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		for _, prefix := range prefixes {
			api := c.URL + prefix
			sfx := fmt.Sprint(len(prefix))
			arch := coretest.Do(t, c.User, "POST", api+"/architectures", map[string]any{"architecture": map[string]any{"name": "x86_64-" + sfx}}).Expect(t, 201).ID(t)
			coretest.Do(t, c.User, "POST", api+"/architectures", map[string]any{"architecture": map[string]any{"name": "x86_64-" + sfx}}).ExpectFull(t, 422, "Name has already been taken")
			coretest.Do(t, c.User, "POST", api+"/architectures", map[string]any{"architecture": map[string]any{"name": " "}}).ExpectFull(t, 422, "Name can't be blank")
			if r := coretest.Do(t, c.User, "PUT", fmt.Sprint(api, "/architectures/", arch), map[string]any{"architecture": map[string]any{"name": "amd64-" + sfx}}).Expect(t, 200); r.JSON["name"] != "amd64-"+sfx {
				t.Fatalf("rename %s", r.Body)
			}
			coretest.Do(t, c.User, "GET", api+"/architectures/amd64-"+sfx, nil).Expect(t, 200)

			osAttrs := map[string]any{"name": "Debian" + sfx, "major": "12", "minor": "5", "family": "Debian", "release_name": "bookworm",
				"pxe_loaders": []string{"PXELinux BIOS", "Grub2 UEFI"}, "architecture_ids": []int64{arch}}
			created := coretest.Do(t, c.User, "POST", api+"/operatingsystems", map[string]any{"operatingsystem": osAttrs}).Expect(t, 201)
			if created.JSON["title"] != "Debian"+sfx+" 12.5" || !reflect.DeepEqual(created.JSON["pxe_loaders"], []any{"PXELinux BIOS", "Grub2 UEFI"}) ||
				!reflect.DeepEqual(created.JSON["architecture_ids"], []any{float64(arch)}) {
				t.Fatalf("os %s", created.Body)
			}
			osID := created.ID(t)
			coretest.Do(t, c.User, "POST", api+"/operatingsystems", map[string]any{"operatingsystem": osAttrs}).ExpectFull(t, 422, "Operating system version already exists")
			coretest.Do(t, c.User, "POST", api+"/operatingsystems", map[string]any{"operatingsystem": map[string]any{"major": "x", "family": "Plan9", "pxe_loaders": []string{"Floppy"}}}).
				ExpectFull(t, 422, "Name can't be blank", "Major is not a number", "Family is not included in the list", `Pxe loaders "Floppy" is not a PXE loader`)
			coretest.Do(t, c.User, "GET", api+"/operatingsystems/"+url.PathEscape("Debian"+sfx+" 12.5"), nil).Expect(t, 200)
			if r := coretest.Do(t, c.User, "PUT", fmt.Sprint(api, "/operatingsystems/", osID), map[string]any{"operatingsystem": map[string]any{"description": "Bookworm"}}).Expect(t, 200); r.JSON["title"] != "Bookworm" || r.JSON["major"] != "12" {
				t.Fatalf("os update %s", r.Body)
			}

			medium := map[string]any{"name": "Debian mirror " + sfx, "path": "http://deb.debian.org/debian/dists/$release/main/installer-$arch",
				"os_family": "Debian", "operatingsystem_ids": []int64{osID}}
			m := coretest.Do(t, c.User, "POST", api+"/media", map[string]any{"medium": medium}).Expect(t, 201)
			if m.JSON["os_family"] != "Debian" || !reflect.DeepEqual(m.JSON["operatingsystem_ids"], []any{float64(osID)}) {
				t.Fatalf("medium %s", m.Body)
			}
			mID := m.ID(t)
			coretest.Do(t, c.User, "POST", api+"/media", map[string]any{"medium": map[string]any{"name": "x", "path": "file:///srv/debian", "os_family": "Amiga"}}).
				ExpectFull(t, 422, "Path Only URLs with schema http://, https://, ftp:// or nfs:// are allowed (e.g. nfs://server/vol/dir)", "Os family is not included in the list")
			coretest.Do(t, c.User, "POST", api+"/media", map[string]any{"medium": map[string]any{"name": "y", "path": "nfs://nfs.example.test/vol/$major", "operatingsystem_ids": []int{999999}}}).
				ExpectFull(t, 422, "Operatingsystem ids not found: no operating system with id 999999")
			if r := coretest.Do(t, c.User, "PUT", fmt.Sprint(api, "/media/", mID), map[string]any{"medium": map[string]any{"path": "https://mirror.example.test/$major"}}).Expect(t, 200); !reflect.DeepEqual(r.JSON["operatingsystem_ids"], []any{float64(osID)}) {
				t.Fatalf("medium update dropped its OS links: %s", r.Body)
			}

			// A host using all three: none can be destroyed while it exists.
			h := coretest.Do(t, c.User, "POST", api+"/hosts", map[string]any{"host": map[string]any{"name": "box" + sfx + ".example.test",
				"architecture_id": arch, "operatingsystem_id": osID, "medium_id": mID, "pxe_loader": "Grub2 UEFI"}}).Expect(t, 201)
			if h.JSON["operatingsystem_name"] != "Bookworm" || h.JSON["medium_name"] != "Debian mirror "+sfx || h.JSON["architecture_name"] != "amd64-"+sfx {
				t.Fatalf("host names %s", h.Body)
			}
			host := "box" + sfx + ".example.test"
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/architectures/", arch), nil).ExpectFull(t, 422, "amd64-"+sfx+" is used by "+host)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/operatingsystems/", osID), nil).ExpectFull(t, 422, "Bookworm is used by "+host)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/media/", mID), nil).ExpectFull(t, 422, "Debian mirror "+sfx+" is used by "+host)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/hosts/", h.ID(t)), nil).Expect(t, 200)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/media/", mID), nil).Expect(t, 200)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/operatingsystems/", osID), nil).Expect(t, 200)
			coretest.Do(t, c.User, "DELETE", fmt.Sprint(api, "/architectures/", arch), nil).Expect(t, 200)
			for _, r := range []string{"/architectures/", "/operatingsystems/", "/media/"} {
				coretest.Do(t, c.User, "GET", fmt.Sprint(api, r, 999999), nil).Expect(t, 404)
			}
		}
		list := coretest.Do(t, c.User, "GET", c.URL+"/api/v2/architectures", nil).Expect(t, 200)
		if list.JSON["total"] != 0.0 {
			t.Fatalf("architectures left %s", list.Body)
		}
	})
}
