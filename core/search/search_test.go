package search

import (
	"reflect"
	"strings"
	"testing"
)

func c(field, op, value string) Condition { return Condition{field, op, value} }

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Expr
	}{
		{"", nil},
		{"   ", nil},
		{`name="proxy.example.com"`, c("name", "=", "proxy.example.com")},
		{`name = web01`, c("name", "=", "web01")},
		{`name ~ web`, c("name", "~", "web")},
		{`Name!=x`, c("name", "!=", "x")},
		{`name !~ "a b"`, c("name", "!~", "a b")},
		{`id >= 3`, c("id", ">=", "3")},
		{`id<3`, c("id", "<", "3")},
		{`domain=example.com and build=true`, And{c("domain", "=", "example.com"), c("build", "=", "true")}},
		{`name="say \"hi\""  AND  mac = 52:54:00:00:00:01`, And{c("name", "=", `say "hi"`), c("mac", "=", "52:54:00:00:00:01")}},
		{`web01`, c("", "~", "web01")},
		{`"web 01"`, c("", "~", "web 01")},
		{`name=""`, c("name", "=", "")},
		// Foreman's examples.
		{`name ~ web or name ~ db`, Or{c("name", "~", "web"), c("name", "~", "db")}},
		{`not (os = x)`, Not{c("os", "=", "x")}},
		{`not(os = x)`, Not{c("os", "=", "x")}},
		{`!(os = x)`, Not{c("os", "=", "x")}},
		{`! build = true`, Not{c("build", "=", "true")}},
		{`NOT web`, Not{c("", "~", "web")}},
		// and binds tighter than or; juxtaposition is and, as in scoped search.
		{`a = 1 or b = 2 and c = 3`, Or{c("a", "=", "1"), And{c("b", "=", "2"), c("c", "=", "3")}}},
		{`(a = 1 or b = 2) and c = 3`, And{Or{c("a", "=", "1"), c("b", "=", "2")}, c("c", "=", "3")}},
		{`web db`, And{c("", "~", "web"), c("", "~", "db")}},
		{`a=1 && b=2 || c=3 | d=4 & e=5`, Or{And{c("a", "=", "1"), c("b", "=", "2")}, c("c", "=", "3"), And{c("d", "=", "4"), c("e", "=", "5")}}},
		{`not not web`, Not{Not{c("", "~", "web")}}},
		{`((web))`, c("", "~", "web")},
		{`web !db`, And{c("", "~", "web"), Not{c("", "~", "db")}}},
		{`android or order = 1`, Or{c("", "~", "android"), c("order", "=", "1")}},
		// In a list, presence.
		{`name ^ (a, b)`, In{Field: "name", Values: []string{"a", "b"}}},
		{`Name^(a,"b c",d)`, In{Field: "name", Values: []string{"a", "b c", "d"}}},
		{`id !^ ( 1 )`, In{Field: "id", Values: []string{"1"}, Negated: true}},
		{`name ^ ("x,y", "")`, In{Field: "name", Values: []string{"x,y", ""}}},
		{`set? ip`, Presence{Field: "ip", Set: true}},
		{`NULL? Domain and name ^ (a)`, And{Presence{Field: "domain"}, In{Field: "name", Values: []string{"a"}}}},
		{`not set? ip or (null? os)`, Or{Not{Presence{Field: "ip", Set: true}}, Presence{Field: "os"}}},
		{`!null? os`, Not{Presence{Field: "os"}}},
		{"id ^ (" + strings.Repeat("1,", 999) + "1)", In{Field: "id", Values: strings.Split(strings.Repeat("1,", 999)+"1", ",")}},
		{`name = a,b`, c("name", "=", "a,b")}, // a comma ends a value only in a list
		{`name = x)y`, nil},                   // error below
	}
	for _, tc := range cases[:len(cases)-1] {
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
		`name="x`:         "unterminated quoted value",
		`name=`:           "expected a value after = at position 6",
		`name= )`:         "expected a value after = at position 7",
		`=x`:              "expected a field name or a value at position 1",
		`na-me=x`:         `"na-me" is not a field name`,
		`not=0`:           `"not" is not a field name`,
		`name="x\`:        "unfinished escape",
		`name=x and `:     `expected a condition after "and" at position 12`,
		`name=x or`:       `expected a condition after "or" at position 10`,
		`name=x and or y`: `expected a condition after "and" at position 12`,
		`or name=x`:       `expected a condition before "or" at position 1`,
		`and`:             `expected a condition before "and" at position 1`,
		`not`:             `expected a condition after "not" at position 4`,
		`(name=x`:         `"(" without a matching ")" at position 1`,
		`name=x)`:         `")" without a matching "(" at position 7`,
		`name = x)y`:      `")" without a matching "(" at position 9`,
		`()`:              "empty parentheses at position 2",
		`(not)`:           `expected a condition after "not" at position 5`,
		`os ^ a`:          `expected a list in parentheses after ^, as in name ^ (a, b) at position 6`,
		`os !^`:           `expected a list in parentheses after !^, as in name !^ (a, b) at position 6`,
		`os ^ ()`:         `expected a value in the list after ^ at position 7`,
		`os ^ (a,)`:       `expected a value in the list after ^ at position 9`,
		`os ^ (a b)`:      `expected "," or ")" in the list after ^ at position 9`,
		`os ^ (a, b`:      `"(" without a matching ")" at position 6`,
		`os ^ (a, "b)`:    "unterminated quoted value",
		`o-s ^ (a)`:       `"o-s" is not a field name`,
		`set?`:            `expected a field name after "set?" at position 5`,
		`null? = x`:       `expected a field name after "null?" at position 7`,
		`set? and`:        `expected a field name after "set?" at position 9`,
		`set? (ip)`:       `expected a field name after "set?" at position 6`,
		"id ^ (" + strings.Repeat("1,", 1000) + "1)": "more than 1000 values in the list after ^ at position 2008",
		strings.Repeat("(", 70):                      "more than 64 nested parentheses or nots",
		strings.Repeat("!", 70) + "x":                "more than 64 nested parentheses or nots",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "Invalid search query: ") {
			t.Errorf("%q: %v does not say what it is about", in, err)
		}
	}
}

func TestAll(t *testing.T) {
	x, y := c("a", "=", "1"), c("b", "=", "2")
	if All() != nil || All(nil, nil) != nil || All(nil, x) != x || !reflect.DeepEqual(All(x, nil, y), And{x, y}) {
		t.Error("All does not join and drop nils")
	}
}

// The parser never panics, always answers an *Error or a tree whose every node is
// well formed, and a tree printed back in the syntax parses to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`name="a"`, `a and b=c`, `x ~ "y\"z"`, `!=`, `"`, `not (os = x) or !web`, `((a)|b)&c`,
		`id >= 3 && name !~ "x y"`, `(`, `)`, `!`, `a or`, `^`,
		`name ^ (a, "b c")`, `id !^ (1,2) or set? ip`, `not null? os`, `os ^ (`, `set?`, `x ^ (a,)`, `null? a ^ (b)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error of type %T", s, err)
			}
			return
		}
		check(t, s, e)
		again, err := Parse(format(e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("%q parsed to %#v, printed as %q, parsed again to %#v (%v)", s, e, format(e), again, err)
		}
	})
}

func check(t *testing.T, s string, e Expr) {
	switch e := e.(type) {
	case nil:
	case Condition:
		if e.Op == "" || (e.Field == "" && e.Op != "~") {
			t.Fatalf("%q: bad condition %#v", s, e)
		}
	case And:
		checkList(t, s, e)
	case Or:
		checkList(t, s, e)
	case In:
		if e.Field == "" || len(e.Values) == 0 {
			t.Fatalf("%q: bad list %#v", s, e)
		}
	case Presence:
		if e.Field == "" {
			t.Fatalf("%q: bad presence %#v", s, e)
		}
	case Not:
		if e.X == nil {
			t.Fatalf("%q: not without operand", s)
		}
		check(t, s, e.X)
	default:
		t.Fatalf("%q: unknown node %T", s, e)
	}
}

func checkList(t *testing.T, s string, list []Expr) {
	if len(list) < 2 {
		t.Fatalf("%q: list of %d", s, len(list))
	}
	for _, x := range list {
		if x == nil {
			t.Fatalf("%q: nil in a list", s)
		}
		check(t, s, x)
	}
}

// format writes e back in the search syntax with only the parentheses the tree needs,
// so the text is never nested deeper than what was parsed.
func format(e Expr) string {
	switch e := e.(type) {
	case nil:
		return ""
	case Condition:
		if e.Field == "" {
			return quote(e.Value)
		}
		return e.Field + " " + e.Op + " " + quote(e.Value)
	case In:
		values := make([]string, len(e.Values))
		for i, v := range e.Values {
			values[i] = quote(v)
		}
		op := " ^ ("
		if e.Negated {
			op = " !^ ("
		}
		return e.Field + op + strings.Join(values, ", ") + ")"
	case Presence:
		if e.Set {
			return "set? " + e.Field
		}
		return "null? " + e.Field
	case And:
		return formatList(e, " and ", func(x Expr) bool {
			switch x.(type) {
			case Condition, In, Presence, Not:
				return false
			}
			return true
		})
	case Or:
		return formatList(e, " or ", func(x Expr) bool { _, isOr := x.(Or); return isOr })
	case Not:
		switch e.X.(type) {
		case Condition, In, Presence, Not:
			return "not " + format(e.X)
		}
		return "not (" + format(e.X) + ")"
	}
	return "?"
}

func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func formatList(list []Expr, op string, needsParens func(Expr) bool) string {
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = format(x)
		if needsParens(x) {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, op)
}
