package tsigkey

import (
	"fmt"
	"os"
	"strings"
)

// ParseFile reads every key statement of a BIND key file.
func ParseFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading TSIG key file: %w", err)
	}
	keys, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// Parse reads key statements in BIND syntax:
//
//	key "ddns-key" { algorithm hmac-sha256; secret "base64=="; };
//
// Comments (#, //, /* */) are allowed; other statements are an error, so that a
// named.conf passed by mistake is reported instead of half-read.
func Parse(data []byte) ([]Key, error) {
	toks, err := tokenize(string(data))
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var keys []Key
	for !p.done() {
		k, err := p.keyStatement()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key statement found")
	}
	return keys, nil
}

type parser struct {
	toks []string
	pos  int
}

func (p *parser) done() bool { return p.pos >= len(p.toks) }

func (p *parser) next() (string, error) {
	if p.done() {
		return "", fmt.Errorf("unexpected end of key file")
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

func (p *parser) expect(want string) error {
	t, err := p.next()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("expected %q, found %q", want, t)
	}
	return nil
}

func (p *parser) keyStatement() (Key, error) {
	if err := p.expect("key"); err != nil {
		return Key{}, err
	}
	name, err := p.next()
	if err != nil {
		return Key{}, err
	}
	if err := p.expect("{"); err != nil {
		return Key{}, err
	}
	var algorithm, secret string
	for {
		field, err := p.next()
		if err != nil {
			return Key{}, err
		}
		if field == "}" {
			break
		}
		value, err := p.next()
		if err != nil {
			return Key{}, err
		}
		if err := p.expect(";"); err != nil {
			return Key{}, err
		}
		switch strings.ToLower(field) {
		case "algorithm":
			algorithm = value
		case "secret":
			secret = value
		default:
			return Key{}, fmt.Errorf("key %q: unknown field %q", name, field)
		}
	}
	if err := p.expect(";"); err != nil {
		return Key{}, err
	}
	return New(name, algorithm, secret)
}

// tokenize splits BIND syntax into words, quoted strings (unquoted) and the
// punctuation { } ;, dropping comments.
func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || (c == '/' && i+1 < len(s) && s[i+1] == '/'):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment")
			}
			i += end + 4
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, string(c))
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted string")
			}
			toks = append(toks, s[i+1:i+1+end])
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n{};\"#", rune(s[j])) {
				j++
			}
			if j == i { // a lone '/' that starts no comment
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}
