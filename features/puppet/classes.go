package puppet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ClassListing is Puppet Server's environment_classes reply: one entry per manifest
// file, each with its classes or the parser's error. Values are kept as decoded
// (numbers as json.Number) so parameter defaults pass through unchanged.
type ClassListing struct {
	Files []map[string]any
}

func parseClassListing(body []byte) (*ClassListing, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var reply struct {
		Files []map[string]any `json:"files"`
	}
	if err := dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("invalid environment_classes reply from Puppet: %w", err)
	}
	return &ClassListing{Files: reply.Files}, nil
}

// LegacyClass is one element of GET .../classes: {"<module>::<name>": {...}}.
type LegacyClass map[string]legacyClassBody

type legacyClassBody struct {
	Name   string         `json:"name"`
	Module *string        `json:"module"`
	Params map[string]any `json:"params"`
}

// Legacy is the /classes shape: every class of every parsable file, parameters as
// name → default. The module is what precedes the first "::" (null without one).
func (l *ClassListing) Legacy() []LegacyClass {
	out := []LegacyClass{}
	for _, file := range l.Files {
		for _, c := range asList(file["classes"]) {
			class, _ := c.(map[string]any)
			full, _ := class["name"].(string)
			if full == "" {
				continue
			}
			body := legacyClassBody{Name: full, Params: map[string]any{}}
			if mod, name, found := strings.Cut(full, "::"); found {
				body.Module, body.Name = &mod, name
			}
			for _, p := range asList(class["params"]) {
				param, _ := p.(map[string]any)
				name, _ := param["name"].(string)
				if name != "" {
					body.Params[name] = legacyDefault(param)
				}
			}
			out = append(out, LegacyClass{full: body})
		}
	}
	return out
}

// legacyDefault is the literal default, else the source text, with "$x" sources
// written "${x}" so Foreman does not take them for values. As in the Ruby proxy a
// literal false falls back to its source text ("false").
func legacyDefault(param map[string]any) any {
	v := param["default_literal"]
	if v == nil || v == false {
		v = param["default_source"]
	}
	return interpolated(v)
}

// WithErrors is the /classes_and_errors shape: per file either {"path","classes"}
// with parameters as Puppet lists them (default_source rewritten like Legacy), or
// the file's entry unchanged when it carries a parse error.
func (l *ClassListing) WithErrors() []map[string]any {
	out := []map[string]any{}
	for _, file := range l.Files {
		if _, failed := file["error"]; failed {
			out = append(out, file)
			continue
		}
		classes := []any{}
		for _, c := range asList(file["classes"]) {
			class, _ := c.(map[string]any)
			params := []any{}
			for _, p := range asList(class["params"]) {
				param, ok := p.(map[string]any)
				if !ok {
					continue
				}
				if src, isString := param["default_source"].(string); isString && strings.HasPrefix(src, "$") {
					param = cloneMap(param)
					param["default_source"] = interpolated(src)
				}
				params = append(params, param)
			}
			classes = append(classes, map[string]any{"name": class["name"], "params": params})
		}
		out = append(out, map[string]any{"path": file["path"], "classes": classes})
	}
	return out
}

func interpolated(v any) any {
	if s, ok := v.(string); ok && strings.HasPrefix(s, "$") {
		return "${" + s[1:] + "}"
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
