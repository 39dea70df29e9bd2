// Package search parses the part of Foreman's scoped-search syntax the core
// understands into an expression tree:
//
//	condition   field OP value, OP one of = != ~ !~ < > <= >=
//	in a list   field ^ (v1, v2, …), field !^ (…) for not in
//	presence    set? field, null? field
//	free text   a value alone, matched as name ~ value
//	and         a and b, a && b, a & b, or just a b (scoped search's default)
//	or          a or b, a || b, a | b (binds looser than and)
//	not         not a, !a
//	grouping    ( … )
//
// A value is a bare word or a "double-quoted string" (\" and \\ escape); quote it when
// it holds spaces or one of ( ) ! = ~ < > ^ & | " (and , in a list). Keywords are
// case-insensitive.
//
//	name ~ web or name ~ db     not (os = "Debian 12")     domain = example.com and !build = true
package search

import (
	"fmt"
	"strings"
)

// Expr is a parsed search: a Condition, In, Presence, And, Or or Not. A nil Expr matches everything.
type Expr interface{ isExpr() }

// Condition is one "field OP value"; Field is "" for free text (Op is then "~").
type Condition struct {
	Field, Op, Value string
}

// In is "field ^ (v1, v2, …)": the field equals one of Values (at least one);
// Negated is "!^", true when it equals none of them or is empty.
type In struct {
	Field   string
	Values  []string
	Negated bool
}

// Presence is "set? field" (Set) or "null? field": whether the field has a value.
type Presence struct {
	Field string
	Set   bool
}

// And holds when every element does; Or when at least one does; Not when X does not.
type (
	And []Expr
	Or  []Expr
	Not struct{ X Expr }
)

func (Condition) isExpr() {}
func (In) isExpr()        {}
func (Presence) isExpr()  {}
func (And) isExpr()       {}
func (Or) isExpr()        {}
func (Not) isExpr()       {}

// All joins exprs with and, leaving out nils: nil when none is left, the one expr
// when one is. The core adds conditions (?name=x, a nested index's owner) this way.
func All(exprs ...Expr) Expr {
	var kept And
	for _, e := range exprs {
		if e != nil {
			kept = append(kept, e)
		}
	}
	switch len(kept) {
	case 0:
		return nil
	case 1:
		return kept[0]
	}
	return kept
}

// Error is a search the parser cannot read; its text is shown to the API client.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// maxDepth bounds nesting of parentheses and not, so a hostile query cannot exhaust
// the stack (or the database's parser) with thousands of "(".
const maxDepth = 64

// Parse reads a search string; "" (or only spaces) is nil, which matches everything.
func Parse(s string) (Expr, error) {
	p := &parser{in: s}
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() { // only a ")" stops or() before the end
		return nil, p.fail(`")" without a matching "("`)
	}
	return e, nil
}

type parser struct {
	in  string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.in) }

func (p *parser) peek() byte { return p.in[p.pos] }

func (p *parser) skipSpace() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
}

func (p *parser) fail(msg string) error {
	return &Error{Msg: fmt.Sprintf("Invalid search query: %s at position %d in %q", msg, p.pos+1, p.in)}
}

// endOfOperand tells whether nothing more belongs to the current operand list.
func (p *parser) endOfOperand() bool { return p.eof() || p.peek() == ')' }

// or is: and-list { or-operator and-list }.
func (p *parser) or(depth int) (Expr, error) {
	var list Or
	for {
		e, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		p.skipSpace()
		if !p.orOperator() {
			break
		}
		p.skipSpace()
		if p.endOfOperand() {
			return nil, p.fail(`expected a condition after "or"`)
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

// and is: unary { [and-operator] unary }, stopping before an or-operator or ")".
func (p *parser) and(depth int) (Expr, error) {
	var list And
	for {
		e, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		p.skipSpace()
		if p.endOfOperand() || p.atOrOperator() {
			break
		}
		if p.andOperator() {
			p.skipSpace()
			if p.endOfOperand() || p.atOrOperator() {
				return nil, p.fail(`expected a condition after "and"`)
			}
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

// unary is: not-operator unary | "(" or ")" | condition.
func (p *parser) unary(depth int) (Expr, error) {
	if depth >= maxDepth {
		return nil, p.fail(fmt.Sprintf("more than %d nested parentheses or nots", maxDepth))
	}
	p.skipSpace()
	switch {
	case p.eof():
		return nil, p.fail("expected a condition")
	case p.notOperator():
		p.skipSpace()
		if p.endOfOperand() {
			return nil, p.fail(`expected a condition after "not"`)
		}
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	case p.peek() == '(':
		open := p.pos
		p.pos++
		p.skipSpace()
		if !p.eof() && p.peek() == ')' {
			return nil, p.fail("empty parentheses")
		}
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.eof() {
			p.pos = open
			return nil, p.fail(`"(" without a matching ")"`)
		}
		p.pos++ // ")"
		return x, nil
	case p.peek() == ')':
		return nil, p.fail(`")" without a matching "("`)
	case p.keyword("set?"):
		return p.presence("set?", true)
	case p.keyword("null?"):
		return p.presence("null?", false)
	}
	return p.condition()
}

// keyword consumes word (case-insensitive) when it stands alone: followed by a space,
// a parenthesis or the end.
func (p *parser) keyword(word string) bool {
	end := p.pos + len(word)
	if end > len(p.in) || !strings.EqualFold(p.in[p.pos:end], word) {
		return false
	}
	if end < len(p.in) && !strings.ContainsRune(" \t()", rune(p.in[end])) {
		return false
	}
	p.pos = end
	return true
}

// symbol consumes the first of symbols found at the position.
func (p *parser) symbol(symbols ...string) bool {
	for _, s := range symbols {
		if strings.HasPrefix(p.in[p.pos:], s) {
			p.pos += len(s)
			return true
		}
	}
	return false
}

func (p *parser) andOperator() bool { return p.symbol("&&", "&") || p.keyword("and") }

func (p *parser) orOperator() bool { return p.symbol("||", "|") || p.keyword("or") }

func (p *parser) atOrOperator() bool {
	start := p.pos
	found := p.orOperator()
	p.pos = start
	return found
}

// notOperator is "not" or a "!" that does not begin != or !~ (or !^).
func (p *parser) notOperator() bool {
	if p.keyword("not") {
		return true
	}
	if p.peek() == '!' && !strings.HasPrefix(p.in[p.pos:], "!=") && !strings.HasPrefix(p.in[p.pos:], "!~") &&
		!strings.HasPrefix(p.in[p.pos:], "!^") {
		p.pos++
		return true
	}
	return false
}

// stops end a bare word.
const stops = " \t=!~\"()<>^&|"

func (p *parser) condition() (Expr, error) {
	start := p.pos
	if p.peek() == '"' {
		v, err := p.quoted()
		if err != nil {
			return nil, err
		}
		return Condition{Op: "~", Value: v}, nil
	}
	for _, kw := range []string{"and", "or"} {
		if p.keyword(kw) {
			p.pos = start
			return nil, p.fail(fmt.Sprintf("expected a condition before %q", kw))
		}
	}
	field := p.word()
	if field == "" {
		return nil, p.fail("expected a field name or a value")
	}
	afterWord := p.pos
	p.skipSpace()
	op := p.operator()
	if op == "" {
		// No operator: the word was free text.
		p.pos = afterWord
		return Condition{Op: "~", Value: field}, nil
	}
	if !isIdentifier(field) || isKeyword(field) {
		return nil, &Error{Msg: fmt.Sprintf("Invalid search query: %q is not a field name", field)}
	}
	p.skipSpace()
	if op == "^" || op == "!^" {
		values, err := p.list(op)
		if err != nil {
			return nil, err
		}
		return In{Field: strings.ToLower(field), Values: values, Negated: op == "!^"}, nil
	}
	value, err := p.value(stops, "expected a value after "+op)
	if err != nil {
		return nil, err
	}
	return Condition{Field: strings.ToLower(field), Op: op, Value: value}, nil
}

// value reads a quoted value or a bare word ending at one of end; missing fails with
// msg.
func (p *parser) value(end, msg string) (string, error) {
	if !p.eof() && p.peek() == '"' {
		return p.quoted()
	}
	start := p.pos
	for !p.eof() && !strings.ContainsRune(end, rune(p.peek())) {
		p.pos++
	}
	if p.pos == start {
		return "", p.fail(msg)
	}
	return p.in[start:p.pos], nil
}

// maxListValues bounds a list: each value is a bound parameter, and SQLite takes at
// most 32766 in a statement (a 64 KiB request line could carry more).
const maxListValues = 1000

// listStops end a bare word in a list: a comma too.
const listStops = stops + ","

// list reads the "(v1, v2, …)" after ^ or !^.
func (p *parser) list(op string) ([]string, error) {
	if p.eof() || p.peek() != '(' {
		return nil, p.fail(fmt.Sprintf("expected a list in parentheses after %s, as in name %s (a, b)", op, op))
	}
	open := p.pos
	p.pos++
	var values []string
	for {
		p.skipSpace()
		v, err := p.value(listStops, "expected a value in the list after "+op)
		if err != nil {
			return nil, err
		}
		if len(values) == maxListValues {
			return nil, p.fail(fmt.Sprintf("more than %d values in the list after %s", maxListValues, op))
		}
		values = append(values, v)
		p.skipSpace()
		switch {
		case p.eof():
			p.pos = open
			return nil, p.fail(`"(" without a matching ")"`)
		case p.peek() == ',':
			p.pos++
		case p.peek() == ')':
			p.pos++
			return values, nil
		default:
			return nil, p.fail(`expected "," or ")" in the list after ` + op)
		}
	}
}

// presence reads the field after set? or null?.
func (p *parser) presence(kw string, set bool) (Expr, error) {
	p.skipSpace()
	field := p.word()
	if field == "" || !isIdentifier(field) || isKeyword(field) {
		return nil, p.fail(fmt.Sprintf("expected a field name after %q", kw))
	}
	return Presence{Field: strings.ToLower(field), Set: set}, nil
}

// word reads up to the next space, operator or parenthesis.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() && !strings.ContainsRune(stops, rune(p.peek())) {
		p.pos++
	}
	return p.in[start:p.pos]
}

// operator reads a comparison operator, longest first.
func (p *parser) operator() string {
	for _, op := range []string{"!=", "!~", "!^", "<=", ">=", "=", "~", "<", ">", "^"} {
		if strings.HasPrefix(p.in[p.pos:], op) {
			p.pos += len(op)
			return op
		}
	}
	return ""
}

func (p *parser) quoted() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.eof() {
				return "", p.fail("unfinished escape")
			}
			b.WriteByte(p.peek())
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", p.fail("unterminated quoted value")
}

func isKeyword(s string) bool {
	return strings.EqualFold(s, "and") || strings.EqualFold(s, "or") || strings.EqualFold(s, "not")
}

func isIdentifier(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}
