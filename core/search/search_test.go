package search

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Query
	}{
		{"", nil},
		{`name="proxy.example.com"`, Query{{"name", "=", "proxy.example.com"}}},
		{`name = web01`, Query{{"name", "=", "web01"}}},
		{`name ~ web`, Query{{"name", "~", "web"}}},
		{`Name!=x`, Query{{"name", "!=", "x"}}},
		{`name !~ "a b"`, Query{{"name", "!~", "a b"}}},
		{`domain=example.com and build=true`, Query{{"domain", "=", "example.com"}, {"build", "=", "true"}}},
		{`name="say \"hi\""  AND  mac = 52:54:00:00:00:01`, Query{{"name", "=", `say "hi"`}, {"mac", "=", "52:54:00:00:00:01"}}},
		{`web01`, Query{{"", "~", "web01"}}},
		{`"web 01"`, Query{{"", "~", "web 01"}}},
		{`name=""`, Query{{"name", "=", ""}}},
	}
	for _, tc := range cases {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		`name="x`:          "unterminated quoted value",
		`name=`:            "expected a value after =",
		`name=x or name=y`: `expected "and" between conditions`,
		`=x`:               "expected a field name or a value",
		`na-me=x`:          `"na-me" is not a field name`,
		`name="x\`:         "unfinished escape",
		`name=x and `:      `expected a condition after "and"`,
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`name="a"`, `a and b=c`, `x ~ "y\"z"`, `!=`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err == nil {
			for _, c := range q {
				if c.Op == "" {
					t.Fatalf("%q: condition without operator %#v", s, c)
				}
			}
		}
	})
}
