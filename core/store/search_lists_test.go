package store

import (
	"context"
	"errors"
	"testing"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store/storetest"
)

// Scoped search's "^" (in a list), "!^" (not in), "set?" and "null?" on both databases.
func TestListSearchInListAndPresence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		ctx := context.Background()
		s := open(t, db)
		for _, h := range []Host{
			{Name: "web01.example.test", MAC: "52:54:00:00:00:01", IP: "192.0.2.1"},
			{Name: "web02.example.test", MAC: "52:54:00:00:00:02"},
			{Name: "db01.example.test", MAC: "52:54:00:00:00:03", IP: "192.0.2.3"},
			{Name: "Web_3.other.test", MAC: "52:54:00:00:00:04"},
		} {
			if err := s.CreateHost(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		const all = "Web_3.other.test db01.example.test web01.example.test web02.example.test "
		for q, want := range map[string]string{
			`name ^ (web01.example.test, "db01.example.test")`: "db01.example.test web01.example.test ",
			`name ^ (WEB01.example.test)`:                      "", // exact, as =
			`name !^ (web01.example.test, db01.example.test)`:  "Web_3.other.test web02.example.test ",
			`id ^ (1, 3)`:                           "db01.example.test web01.example.test ",
			`id !^ (1)`:                             "Web_3.other.test db01.example.test web02.example.test ",
			`build ^ (false, true)`:                 all,
			`domain !^ (example.test)`:              all, // no domain: NULL, as with !=
			`domain ^ (example.test)`:               "",
			`set? ip`:                               "db01.example.test web01.example.test ", // "" is no value
			`null? ip`:                              "Web_3.other.test web02.example.test ",
			`not set? ip`:                           "Web_3.other.test web02.example.test ",
			`set? domain`:                           "",
			`null? domain and null? domain_id`:      all,
			`set? domain_id or set? smart_proxy_id`: "",
			`set? ip and name ^ (web01.example.test, web02.example.test)`: "web01.example.test ",
		} {
			parsed, err := search.Parse(q)
			if err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			_, hosts, err := s.ListHosts(ctx, ListOptions{Search: parsed})
			if err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			got := ""
			for _, h := range hosts {
				got += h.Name + " "
			}
			if got != want {
				t.Errorf("%q: %q, want %q", q, got, want)
			}
		}
		for q, want := range map[string]string{
			`id ^ (1, x)`:         "Value 'x' is not valid for field 'id'",
			`build !^ (maybe)`:    "Value 'maybe' is not valid for field 'build'",
			`colour ^ (red)`:      "Field 'colour' not recognized for searching!",
			`set? colour`:         "Field 'colour' not recognized for searching!",
			`web or null? colour`: "Field 'colour' not recognized for searching!",
		} {
			parsed, err := search.Parse(q)
			if err != nil {
				t.Fatalf("%q: %v", q, err)
			}
			_, _, err = s.ListHosts(ctx, ListOptions{Search: parsed})
			var se *SearchError
			if !errors.As(err, &se) || se.Msg != want {
				t.Errorf("%q: %v, want %q", q, err, want)
			}
		}
	})
}
