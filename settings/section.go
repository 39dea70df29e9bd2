// Package settings reads the Ruby smart-proxy's YAML settings files: settings.yml and
// settings.d/<module>.yml, with symbol keys (":enabled:") or plain keys ("enabled").
package settings

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Section is one settings file (or one map inside it). Typed getters read keys,
// remember which keys were read, and collect every problem with file and key named,
// so a module can report all of them at once instead of stopping at the first.
type Section struct {
	File   string // path shown in messages
	prefix string // key path of a nested section, e.g. ":subnets:[0]"
	values map[string]any
	read   map[string]bool
	errs   *[]error
	// Found is false when the file did not exist and defaults apply.
	Found bool
	// Dir is the folder relative paths in this section resolve against.
	Dir string
	// inherit gives the keys in inheritKeys that this file leaves out (see Inherit).
	inherit     *Section
	inheritKeys map[string]bool
}

// Inherit makes keys that s leaves out read from other, a file shared by every
// module (settings.yml's global :state_backend: and :etcd_*:). s's own value of a
// key wins. An inherited value's problem is recorded on s, so it fails the module
// that reads it, and names the file the value is in; its relative paths resolve
// against that file's folder. Has, Keys and Unread still see s's own keys only.
func (s *Section) Inherit(other *Section, keys []string) {
	if other == nil {
		return
	}
	s.inherit = other
	s.inheritKeys = make(map[string]bool, len(keys))
	for _, k := range keys {
		s.inheritKeys[k] = true
	}
}

// inheritedFrom is the section key's value comes from when s leaves it out.
func (s *Section) inheritedFrom(key string) *Section {
	if s.inherit == nil || !s.inheritKeys[key] || s.Has(key) || !s.inherit.Has(key) {
		return nil
	}
	return s.inherit
}

// Source names the file key's value is read from: s's own, the inherited one, or
// "" when neither has it.
func (s *Section) Source(key string) string {
	if src := s.inheritedFrom(key); src != nil {
		return src.File
	}
	if s.Has(key) {
		return s.File
	}
	return ""
}

// NewSection wraps already-decoded values; keys are normalised like file keys.
func NewSection(file string, values map[string]any) *Section {
	norm, _ := normalise(values).(map[string]any)
	if norm == nil {
		norm = map[string]any{}
	}
	return &Section{File: file, values: norm, read: map[string]bool{}, errs: new([]error), Found: true, Dir: filepath.Dir(file)}
}

// Parse decodes YAML bytes. An empty document is an empty section; a document whose
// top level is not a map is an error.
func Parse(file string, data []byte) (*Section, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", file, err)
	}
	if raw == nil {
		return NewSection(file, nil), nil
	}
	m, ok := normalise(raw).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: top level must be a map of settings, got %s", file, kind(raw))
	}
	return NewSection(file, m), nil
}

// Load reads a file. A missing file is not an error: the section is empty and Found is false.
func Load(path string) (*Section, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		s := NewSection(path, nil)
		s.Found = false
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// normalise strips the leading ':' of Ruby symbol keys at every level and turns
// map[any]any into map[string]any.
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[strings.TrimPrefix(k, ":")] = normalise(val)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			out[strings.TrimPrefix(fmt.Sprint(k), ":")] = normalise(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = normalise(val)
		}
		return out
	}
	return v
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

// keyName is how a key is written in messages: ":key:" as in the files.
func (s *Section) keyName(key string) string { return s.prefix + ":" + key + ":" }

// Fail records a problem with key.
func (s *Section) Fail(key, format string, args ...any) {
	file := s.File
	if src := s.inheritedFrom(key); src != nil {
		file = src.File + " (inherited by " + s.File + ")"
	}
	*s.errs = append(*s.errs, fmt.Errorf("%s: %s %s", file, s.keyName(key), fmt.Sprintf(format, args...)))
}

// Err joins every problem recorded so far, or nil.
func (s *Section) Err() error { return errors.Join(*s.errs...) }

// Has reports whether key is present with a non-null value.
func (s *Section) Has(key string) bool {
	v, ok := s.values[key]
	return ok && v != nil
}

// Raw returns the value of key as decoded, marking it read.
func (s *Section) Raw(key string) (any, bool) {
	if src := s.inheritedFrom(key); src != nil {
		return src.Raw(key)
	}
	s.read[key] = true
	v, ok := s.values[key]
	if v == nil {
		return nil, false
	}
	return v, ok
}

// Unread lists keys present in the file that no getter asked for, sorted: the
// unknown keys an admin should be warned about.
func (s *Section) Unread() []string {
	var out []string
	for k := range s.values {
		if !s.read[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// WarnUnknown calls warn once per unknown key with a message naming file and key.
func (s *Section) WarnUnknown(warn func(string)) {
	for _, k := range s.Unread() {
		warn(fmt.Sprintf("%s: unknown setting %s ignored", s.File, s.keyName(k)))
	}
}

// String returns a scalar as a string (numbers are accepted: YAML reads 7911 as a number).
func (s *Section) String(key, def string) string {
	v, ok := s.Raw(key)
	if !ok {
		return def
	}
	switch t := v.(type) {
	case string:
		return t
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(t)
	}
	s.Fail(key, "must be a string, got %s", kind(v))
	return def
}

// Required returns a string that must be present and non-empty.
func (s *Section) Required(key string) string {
	v := s.String(key, "")
	if v == "" && !s.failedOn(key) {
		s.Fail(key, "is required")
	}
	return v
}

func (s *Section) failedOn(key string) bool {
	for _, e := range *s.errs {
		if strings.Contains(e.Error(), s.keyName(key)) {
			return true
		}
	}
	return false
}

// Bool returns a boolean; only true and false are accepted, as in the Ruby validators.
func (s *Section) Bool(key string, def bool) bool {
	v, ok := s.Raw(key)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		s.Fail(key, "must be true or false, got %s %q", kind(v), fmt.Sprint(v))
		return def
	}
	return b
}

// Int returns an integer; a string of digits is accepted ('7911').
func (s *Section) Int(key string, def int) int {
	v, ok := s.Raw(key)
	if !ok {
		return def
	}
	switch t := v.(type) {
	case int:
		return t
	case int64:
		return int(t)
	case uint64:
		return int(t)
	case float64:
		if t == float64(int(t)) {
			return int(t)
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			return n
		}
	}
	s.Fail(key, "must be an integer, got %s %q", kind(v), fmt.Sprint(v))
	return def
}

// StringList returns a list of scalars; a single scalar is wrapped in a list, as the Ruby
// proxy does for bind_host.
func (s *Section) StringList(key string, def []string) []string {
	v, ok := s.Raw(key)
	if !ok {
		return def
	}
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for i, item := range t {
			switch it := item.(type) {
			case string:
				out = append(out, it)
			case int, int64, float64, bool:
				out = append(out, fmt.Sprint(it))
			default:
				s.Fail(key, "item %d must be a string, got %s", i, kind(item))
				return def
			}
		}
		return out
	}
	s.Fail(key, "must be a list, got %s", kind(v))
	return def
}

// Sections returns a list of maps as nested sections sharing this section's error list,
// so problems are reported as "file: :subnets:[1]:network: ...".
func (s *Section) Sections(key string) []*Section {
	v, ok := s.Raw(key)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		s.Fail(key, "must be a list, got %s", kind(v))
		return nil
	}
	out := make([]*Section, 0, len(list))
	for i, item := range list {
		m, isMap := item.(map[string]any)
		if !isMap {
			s.Fail(key, "item %d must be a map, got %s", i, kind(item))
			continue
		}
		out = append(out, &Section{File: s.File, prefix: fmt.Sprintf("%s[%d]", s.keyName(key), i),
			values: m, read: map[string]bool{}, errs: s.errs, Found: true, Dir: s.Dir})
	}
	return out
}

// URL returns an absolute URL with a scheme and host, or "" when absent.
func (s *Section) URL(key string) string {
	v := s.String(key, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		s.Fail(key, "must be a URL with a scheme and host, got %q", v)
		return ""
	}
	return v
}

// Path returns a file path resolved against the section's folder when relative.
func (s *Section) Path(key, def string) string {
	p := s.String(key, def)
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if src := s.inheritedFrom(key); src != nil {
		return filepath.Join(src.Dir, p)
	}
	return filepath.Join(s.Dir, p)
}

// ReadableFile returns a path that must name a readable file; "" when absent and not required.
func (s *Section) ReadableFile(key, def string, required bool) string {
	p := s.Path(key, def)
	if p == "" {
		if required && !s.failedOn(key) {
			s.Fail(key, "is required")
		}
		return ""
	}
	f, err := os.Open(p)
	if err != nil {
		s.Fail(key, "names a file that cannot be read: %v", err)
		return p
	}
	f.Close()
	return p
}

// Enabled reads :enabled: (true, false, http or https).
func (s *Section) Enabled(def Enabled) Enabled {
	v, ok := s.Raw("enabled")
	if !ok {
		return def
	}
	switch t := v.(type) {
	case bool:
		if t {
			return EnabledBoth
		}
		return EnabledNone
	case string:
		switch strings.ToLower(t) {
		case "http":
			return EnabledHTTP
		case "https":
			return EnabledHTTPS
		case "true":
			return EnabledBoth
		case "false":
			return EnabledNone
		}
	}
	s.Fail("enabled", "must be true, false, http or https, got %q", fmt.Sprint(v))
	return EnabledNone
}

// Enabled says on which listeners a module serves.
type Enabled int

const (
	EnabledNone Enabled = iota
	EnabledHTTP
	EnabledHTTPS
	EnabledBoth
)

func (e Enabled) HTTP() bool  { return e == EnabledHTTP || e == EnabledBoth }
func (e Enabled) HTTPS() bool { return e == EnabledHTTPS || e == EnabledBoth }
func (e Enabled) Any() bool   { return e != EnabledNone }

// Keys lists the keys present in the section, sorted.
func (s *Section) Keys() []string {
	out := make([]string, 0, len(s.values))
	for k := range s.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
