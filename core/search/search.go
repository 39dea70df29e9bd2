// Package search parses the small subset of Foreman's scoped-search syntax the core
// understands: conditions "field OP value" joined by "and", where OP is = (equal),
// != (not equal), ~ (contains, case-insensitive) or !~ (does not contain); a value is a
// bare word or a "double-quoted string" (\" and \\ escape). A term with no field and
// no operator is free text, matched as name ~ term.
//
//	name="proxy.example.com"   name = web01   name ~ web   domain=example.com and build=true
package search

import (
	"fmt"
	"strings"
)

// Condition is one "field OP value"; Field is "" for free text (Op is then "~").
type Condition struct {
	Field, Op, Value string
}

// Query is the conditions, all of which must hold.
type Query []Condition

// Error is a search the parser cannot read; its text is shown to the API client.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Parse reads a search string; "" is an empty query.
func Parse(s string) (Query, error) {
	p := &parser{in: s}
	var q Query
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		if len(q) > 0 {
			if !p.keyword("and") {
				return nil, p.fail("expected \"and\" between conditions")
			}
			p.skipSpace()
			if p.eof() {
				return nil, p.fail("expected a condition after \"and\"")
			}
		}
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		q = append(q, c)
	}
	return q, nil
}

type parser struct {
	in  string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.in) }

func (p *parser) skipSpace() {
	for !p.eof() && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t') {
		p.pos++
	}
}

func (p *parser) fail(msg string) error {
	return &Error{Msg: fmt.Sprintf("Invalid search query: %s at position %d in %q", msg, p.pos+1, p.in)}
}

// keyword consumes word (case-insensitive) when it stands alone.
func (p *parser) keyword(word string) bool {
	end := p.pos + len(word)
	if end > len(p.in) || !strings.EqualFold(p.in[p.pos:end], word) {
		return false
	}
	if end < len(p.in) && p.in[end] != ' ' && p.in[end] != '\t' {
		return false
	}
	p.pos = end
	return true
}

func (p *parser) condition() (Condition, error) {
	start := p.pos
	if p.in[p.pos] == '"' {
		v, err := p.quoted()
		return Condition{Op: "~", Value: v}, err
	}
	field := p.word()
	if field == "" {
		return Condition{}, p.fail("expected a field name or a value")
	}
	p.skipSpace()
	op := p.operator()
	if op == "" {
		// No operator: the word was free text.
		p.pos = start + len(field)
		return Condition{Op: "~", Value: field}, nil
	}
	if !isIdentifier(field) {
		return Condition{}, &Error{Msg: fmt.Sprintf("Invalid search query: %q is not a field name", field)}
	}
	p.skipSpace()
	if p.eof() {
		return Condition{}, p.fail("expected a value after " + op)
	}
	var value string
	if p.in[p.pos] == '"' {
		v, err := p.quoted()
		if err != nil {
			return Condition{}, err
		}
		value = v
	} else {
		value = p.word()
	}
	return Condition{Field: strings.ToLower(field), Op: op, Value: value}, nil
}

// word reads up to the next space or operator character.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() && !strings.ContainsRune(" \t=!~\"", rune(p.in[p.pos])) {
		p.pos++
	}
	return p.in[start:p.pos]
}

func (p *parser) operator() string {
	for _, op := range []string{"!=", "!~", "=", "~"} {
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
		c := p.in[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.eof() {
				return "", p.fail("unfinished escape")
			}
			b.WriteByte(p.in[p.pos])
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", p.fail("unterminated quoted value")
}

func isIdentifier(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}
