package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

func open(t *testing.T, db storetest.Database) *Store {
	t.Helper()
	s, err := Open(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsFromEmptyAndOnRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != Migrations() {
			t.Fatalf("version %d (%v), want %d", v, err, Migrations())
		}
		if _, err := s.CreateUser(ctx, "admin", "hash", true); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// A restart applies nothing again and keeps the data.
		s2 := open(t, db)
		if v, _ := s2.SchemaVersion(ctx); v != Migrations() {
			t.Errorf("version after restart %d", v)
		}
		var rows int
		s2.db.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&rows)
		if rows != 1 {
			t.Errorf("schema_version has %d rows", rows)
		}
		if u, err := s2.UserByLogin(ctx, "admin"); err != nil || !u.Admin || u.PasswordHash != "hash" {
			t.Errorf("user after restart: %+v %v", u, err)
		}
	})
}

func TestSQLitePragmas(t *testing.T) {
	s := open(t, storetest.SQLite(t))
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := s.db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", pragma, got, err, want)
		}
	}
}

func TestPoolIsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		s := open(t, db)
		if got := s.db.Stats().MaxOpenConnections; got != maxConnections {
			t.Errorf("max open connections %d, want %d", got, maxConnections)
		}
	})
}

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		if n, _ := s.CountUsers(ctx); n != 0 {
			t.Errorf("users %d", n)
		}
		s.CreateUser(ctx, "admin", "h", true)
		_, err := s.CreateUser(ctx, "admin", "h2", false)
		var conflict *ConflictError
		if !errors.As(err, &conflict) || conflict.Field != "login" {
			t.Errorf("duplicate login: %v", err)
		}
		if _, err := s.UserByLogin(ctx, "nobody"); err != ErrNotFound {
			t.Errorf("unknown: %v", err)
		}
	})
}

func TestSmartProxiesAndFeatures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		p := SmartProxy{Name: "proxy1.example.test", URL: "https://proxy1.example.test:8443", Features: []Feature{
			{Name: "TFTP", Capabilities: []string{}, Settings: map[string]any{"tftp_servername": "10.0.0.1"}},
			{Name: "Puppet CA", Capabilities: []string{"puppetca_hostname_whitelisting"}},
		}}
		if err := s.CreateSmartProxy(ctx, &p); err != nil {
			t.Fatal(err)
		}
		got, err := s.SmartProxyByName(ctx, "proxy1.example.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Features) != 2 || got.Features[0].Name != "Puppet CA" || got.Features[1].Settings["tftp_servername"] != "10.0.0.1" ||
			!reflect.DeepEqual(got.Features[0].Capabilities, []string{"puppetca_hostname_whitelisting"}) || got.Features[0].ID == 0 {
			t.Errorf("features %+v", got.Features)
		}
		if !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("created_at %v, stored %v", got.CreatedAt, p.CreatedAt)
		}
		// Features no longer reported are deleted; ids of kept ones are stable.
		tftpID := got.Features[1].ID
		got.Features = []Feature{{Name: "TFTP"}, {Name: "Logs"}}
		if err := s.UpdateSmartProxy(ctx, &got); err != nil {
			t.Fatal(err)
		}
		again, _ := s.SmartProxy(ctx, p.ID)
		if names(again.Features) != "Logs,TFTP" || again.Features[1].ID != tftpID {
			t.Errorf("after refresh %+v", again.Features)
		}
		dup := SmartProxy{Name: "other", URL: p.URL}
		var conflict *ConflictError
		if err := s.CreateSmartProxy(ctx, &dup); !errors.As(err, &conflict) || conflict.Field != "url" {
			t.Errorf("duplicate url: %v", err)
		}
		if !again.HasFeature("TFTP") || again.HasFeature("Puppet CA") || again.Setting("TFTP", "tftp_servername") != nil {
			t.Errorf("lookups after refresh: %+v", again.Features)
		}
		if !p.HasCapability("Puppet CA", "puppetca_hostname_whitelisting") || p.HasCapability("TFTP", "x") ||
			p.Setting("TFTP", "tftp_servername") != "10.0.0.1" || p.Setting("DNS", "x") != nil {
			t.Errorf("capability/setting lookups on %+v", p.Features)
		}
		hosts, err := s.ProxyHosts(ctx, "TFTP")
		if err != nil || len(hosts) != 1 || hosts[0].Host != "proxy1.example.test" || hosts[0].ID != p.ID {
			t.Errorf("ProxyHosts TFTP %+v %v", hosts, err)
		}
		if hosts, _ := s.ProxyHosts(ctx, "Puppet CA"); len(hosts) != 0 {
			t.Errorf("ProxyHosts Puppet CA %+v", hosts)
		}
		if hosts, _ := s.ProxyHosts(ctx, ""); len(hosts) != 1 {
			t.Errorf("ProxyHosts any %+v", hosts)
		}
	})
}

func names(fs []Feature) string {
	out := ""
	for i, f := range fs {
		if i > 0 {
			out += ","
		}
		out += f.Name
	}
	return out
}

func TestReferencesAndUsedBy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		p := SmartProxy{Name: "p1", URL: "https://p1:8443"}
		s.CreateSmartProxy(ctx, &p)
		d := Domain{Name: "example.test", DNSID: &p.ID}
		if err := s.CreateDomain(ctx, &d); err != nil {
			t.Fatal(err)
		}
		n := Subnet{Name: "lan", Network: "192.0.2.0", Mask: "255.255.255.0", DHCPID: &p.ID, TFTPID: &p.ID, DomainIDs: []int64{d.ID}}
		if err := s.CreateSubnet(ctx, &n); err != nil {
			t.Fatal(err)
		}
		a := Architecture{Name: "x86_64"}
		s.CreateArchitecture(ctx, &a)
		o := OperatingSystem{Name: "Debian", Major: "12", Family: "Debian", PXELoaders: []string{"PXELinux BIOS", "Grub2 UEFI"}, ArchitectureIDs: []int64{a.ID}}
		if err := s.CreateOperatingSystem(ctx, &o); err != nil {
			t.Fatal(err)
		}
		m := Medium{Name: "Debian mirror", Path: "http://deb.debian.org/debian", OSFamily: "Debian", OperatingSystemIDs: []int64{o.ID}}
		if err := s.CreateMedium(ctx, &m); err != nil {
			t.Fatal(err)
		}
		h := Host{Name: "web01.example.test", DomainID: &d.ID, SubnetID: &n.ID, MAC: "52:54:00:00:00:01", IP: "192.0.2.10",
			ArchitectureID: &a.ID, OperatingSystemID: &o.ID, MediumID: &m.ID, PXELoader: "PXELinux BIOS", Build: true,
			Parameters: []Parameter{{Name: "role", Value: "web"}}}
		if err := s.CreateHost(ctx, &h); err != nil {
			t.Fatal(err)
		}
		proxyHost := Host{Name: "p1", Infrastructure: &InfrastructureFacet{SmartProxyID: &p.ID}}
		if err := s.CreateHost(ctx, &proxyHost); err != nil {
			t.Fatal(err)
		}

		// The batched index load gives the same hosts as one-by-one loads.
		_, listed, err := s.ListHosts(ctx, ListOptions{})
		if err != nil || len(listed) != 2 {
			t.Fatalf("ListHosts %v %v", listed, err)
		}
		for _, l := range listed {
			one, _ := s.Host(ctx, l.ID)
			if !reflect.DeepEqual(l, one) {
				t.Errorf("listed %+v\nloaded %+v", l, one)
			}
		}

		used, _ := s.SmartProxyUsedBy(ctx, p.ID)
		if !reflect.DeepEqual(used, []string{"example.test", "lan", "p1"}) {
			t.Errorf("proxy used by %v", used)
		}
		for what, f := range map[string]func(context.Context, int64) ([]string, error){
			"domain": s.DomainUsedBy, "subnet": s.SubnetUsedBy, "architecture": s.ArchitectureUsedBy,
			"os": s.OperatingSystemUsedBy, "medium": s.MediumUsedBy,
		} {
			id := map[string]int64{"domain": d.ID, "subnet": n.ID, "architecture": a.ID, "os": o.ID, "medium": m.ID}[what]
			if used, _ := f(ctx, id); !reflect.DeepEqual(used, []string{"web01.example.test"}) {
				t.Errorf("%s used by %v", what, used)
			}
		}
		// The database refuses what the API checks first.
		if err := s.DeleteSmartProxy(ctx, p.ID); err == nil {
			t.Error("deleting a referenced proxy succeeded")
		}
		got, err := s.Host(ctx, h.ID)
		if err != nil || got.Parameters[0].Value != "web" || *got.MediumID != m.ID || !got.Build || got.Infrastructure != nil {
			t.Errorf("host %+v %v", got, err)
		}
		for _, find := range []func() (Host, error){
			func() (Host, error) { return s.HostByMAC(ctx, "52:54:00:00:00:01") },
			func() (Host, error) { return s.HostByIP(ctx, "192.0.2.10") },
			func() (Host, error) { return s.HostByCertname(ctx, "web01.example.test") },
		} {
			if found, err := find(); err != nil || found.ID != h.ID {
				t.Errorf("lookup found %+v %v", found, err)
			}
		}
		if _, err := s.HostByMAC(ctx, "52:54:00:00:00:99"); err != ErrNotFound {
			t.Errorf("unknown MAC: %v", err)
		}
		pg, _ := s.HostByName(ctx, "p1")
		if pg.Infrastructure == nil || *pg.Infrastructure.SmartProxyID != p.ID {
			t.Errorf("facet %+v", pg.Infrastructure)
		}
		if changed, err := s.SetInfrastructureFacet(ctx, pg.ID, InfrastructureFacet{SmartProxyID: &p.ID}); changed || err != nil {
			t.Errorf("same facet again: changed=%v %v", changed, err)
		}
		if changed, _ := s.SetInfrastructureFacet(ctx, h.ID, InfrastructureFacet{SmartProxyID: &p.ID}); !changed {
			t.Error("new facet: not changed")
		}
		os, _ := s.OperatingSystemByTitle(ctx, "Debian 12")
		if os.ID != o.ID || !reflect.DeepEqual(os.PXELoaders, []string{"PXELinux BIOS", "Grub2 UEFI"}) || !reflect.DeepEqual(os.ArchitectureIDs, []int64{a.ID}) {
			t.Errorf("os %+v", os)
		}
		sn, _ := s.Subnet(ctx, n.ID)
		if !reflect.DeepEqual(sn.DomainIDs, []int64{d.ID}) || *sn.DHCPID != p.ID || sn.DNSID != nil {
			t.Errorf("subnet %+v", sn)
		}
		// Facts replace the previous upload; deleting the host deletes them.
		s.SaveFacts(ctx, h.ID, json.RawMessage(`{"a":"1"}`))
		s.SaveFacts(ctx, h.ID, json.RawMessage(`{"a":"2"}`))
		if f, _, err := s.Facts(ctx, h.ID); err != nil || string(f) != `{"a":"2"}` {
			t.Errorf("facts %s %v", f, err)
		}
		if err := s.DeleteHost(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Facts(ctx, h.ID); err != ErrNotFound {
			t.Errorf("facts after delete: %v", err)
		}
		if err := s.DeleteHost(ctx, h.ID); err != ErrNotFound {
			t.Errorf("second delete: %v", err)
		}
	})
}

// A host rebuilt under a new name keeps its MAC and IP while the old record lingers:
// Foreman's lookup takes the most recently created one.
func TestHostByMACAndIPNewestWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		old := Host{Name: "old.example.test", MAC: "52:54:00:00:00:01", IP: "192.0.2.10"}
		newer := Host{Name: "new.example.test", MAC: "52:54:00:00:00:01", IP: "192.0.2.10"}
		other := Host{Name: "other.example.test", MAC: "52:54:00:00:00:02"}
		for _, h := range []*Host{&old, &newer, &other} {
			if err := s.CreateHost(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		for what, find := range map[string]func() (Host, error){
			"one MAC":     func() (Host, error) { return s.HostByMAC(ctx, "52:54:00:00:00:01") },
			"unknown+MAC": func() (Host, error) { return s.HostByMAC(ctx, "52:54:00:00:00:99", "52:54:00:00:00:01") },
			"IP":          func() (Host, error) { return s.HostByIP(ctx, "192.0.2.10") },
		} {
			if found, err := find(); err != nil || found.ID != newer.ID {
				t.Errorf("%s found %s (%v), want %s", what, found.Name, err, newer.Name)
			}
		}
		// Several MACs naming different hosts: the newest of them.
		if found, err := s.HostByMAC(ctx, "52:54:00:00:00:02", "52:54:00:00:00:01"); err != nil || found.ID != other.ID {
			t.Errorf("two MACs found %s (%v), want %s", found.Name, err, other.Name)
		}
		if _, err := s.HostByMAC(ctx); err != ErrNotFound {
			t.Errorf("no MAC: %v", err)
		}
	})
}

func TestListSearchPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		for _, n := range []string{"web01.example.test", "web02.example.test", "db01.example.test", "Web_3.other.test"} {
			if err := s.CreateHost(ctx, &Host{Name: n, MAC: "52:54:00:00:00:0" + n[4:5]}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(q string, page, per int) (Counts, string) {
			t.Helper()
			parsed, err := search.Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			c, hosts, err := s.ListHosts(ctx, ListOptions{Search: parsed, Page: page, PerPage: per})
			if err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			out := ""
			for _, h := range hosts {
				out += h.Name + " "
			}
			return c, out
		}
		cases := []struct {
			q        string
			subtotal int
			names    string
		}{
			{``, 4, "Web_3.other.test db01.example.test web01.example.test web02.example.test "},
			{`name="web01.example.test"`, 1, "web01.example.test "},
			{`name = web02.example.test`, 1, "web02.example.test "},
			{`name ~ WEB`, 3, "Web_3.other.test web01.example.test web02.example.test "},
			{`name ~ b_`, 1, "Web_3.other.test "}, // _ is literal, not LIKE's wildcard
			{`name !~ web`, 1, "db01.example.test "},
			{`name != db01.example.test and name ~ example`, 2, "web01.example.test web02.example.test "},
			{`web0`, 2, "web01.example.test web02.example.test "},
			{`build = false and id = 1`, 1, "web01.example.test "},
			{`name ~ db or name ~ other`, 2, "Web_3.other.test db01.example.test "},
			{`not (name ~ web or id = 3)`, 0, ""},
			{`!(name ~ web) or (id > 1 and id < 3)`, 2, "db01.example.test web02.example.test "},
			{`not domain = example.test`, 4, "Web_3.other.test db01.example.test web01.example.test web02.example.test "}, // no domain: NULL
			{`domain = example.test or not domain = example.test`, 4, "Web_3.other.test db01.example.test web01.example.test web02.example.test "},
		}
		for _, tc := range cases {
			c, got := list(tc.q, 1, 20)
			if c.Total != 4 || c.Subtotal != tc.subtotal || got != tc.names {
				t.Errorf("%q: %+v %q, want subtotal %d %q", tc.q, c, got, tc.subtotal, tc.names)
			}
		}
		if _, got := list(``, 2, 3); got != "web02.example.test " {
			t.Errorf("page 2: %q", got)
		}
		for q, want := range map[string]string{
			`colour = red`:              "Field 'colour' not recognized for searching!",
			`id = x`:                    "Value 'x' is not valid for field 'id'",
			`build ~ true`:              "Operator '~' is not valid for field 'build'",
			`build < true`:              "Operator '<' is not valid for field 'build'",
			`name > a`:                  "Operator '>' is not valid for field 'name'",
			`web or (not colour = red)`: "Field 'colour' not recognized for searching!",
		} {
			parsed, _ := search.Parse(q)
			_, _, err := s.ListHosts(ctx, ListOptions{Search: parsed})
			var se *SearchError
			if !errors.As(err, &se) || se.Msg != want {
				t.Errorf("%q: %v, want %q", q, err, want)
			}
		}
	})
}

// Concurrent writers and readers all succeed: on SQLite the immediate transactions
// wait on busy_timeout instead of failing with "database is locked".
func TestConcurrentWritesAndReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		errs := make(chan error, 400)
		done := make(chan struct{})
		for w := 0; w < 8; w++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := 0; i < 25; i++ {
					h := Host{Name: fmt.Sprintf("w%d-%d.example.test", w, i), Parameters: []Parameter{{Name: "n", Value: "v"}}}
					if err := s.CreateHost(ctx, &h); err != nil {
						errs <- err
						return
					}
					if _, _, err := s.ListHosts(ctx, ListOptions{PerPage: 5}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for w := 0; w < 8; w++ {
			<-done
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if c, _, _ := s.ListHosts(ctx, ListOptions{}); c.Total != 200 {
			t.Errorf("%d hosts, want 200", c.Total)
		}
	})
}
