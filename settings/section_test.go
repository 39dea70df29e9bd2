package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parse(t *testing.T, yaml string) *Section {
	t.Helper()
	s, err := Parse("test.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

func TestSymbolAndPlainKeysAreTheSame(t *testing.T) {
	for _, doc := range []string{":enabled: true\n:server: 10.0.0.1\n", "enabled: true\nserver: 10.0.0.1\n"} {
		s := parse(t, doc)
		if got := s.Enabled(EnabledNone); got != EnabledBoth {
			t.Errorf("%q: enabled = %v, want both", doc, got)
		}
		if got := s.String("server", ""); got != "10.0.0.1" {
			t.Errorf("%q: server = %q", doc, got)
		}
		if err := s.Err(); err != nil {
			t.Errorf("%q: unexpected error %v", doc, err)
		}
	}
}

func TestEnabledValues(t *testing.T) {
	cases := map[string]Enabled{
		":enabled: true":    EnabledBoth,
		":enabled: false":   EnabledNone,
		":enabled: http":    EnabledHTTP,
		":enabled: https":   EnabledHTTPS,
		":enabled: 'https'": EnabledHTTPS,
		"":                  EnabledNone,
	}
	for doc, want := range cases {
		s := parse(t, doc)
		if got := s.Enabled(EnabledNone); got != want || s.Err() != nil {
			t.Errorf("%q: got %v err %v, want %v", doc, got, s.Err(), want)
		}
	}
	s := parse(t, ":enabled: maybe")
	s.Enabled(EnabledNone)
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "test.yml: :enabled: must be true, false, http or https") {
		t.Errorf("bad enabled: err = %v", err)
	}
}

func TestEnabledListenerFlags(t *testing.T) {
	if !EnabledHTTP.HTTP() || EnabledHTTP.HTTPS() || !EnabledHTTPS.HTTPS() || EnabledHTTPS.HTTP() ||
		!EnabledBoth.HTTP() || !EnabledBoth.HTTPS() || EnabledNone.Any() {
		t.Fatal("listener flags do not follow :enabled:")
	}
}

func TestTypeErrorsNameFileAndKey(t *testing.T) {
	s := parse(t, ":ping_free_ip: 'yes'\n:lease_time: abc\n:routers: {a: 1}\n")
	s.Bool("ping_free_ip", true)
	s.Int("lease_time", 0)
	s.StringList("routers", nil)
	err := s.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`test.yml: :ping_free_ip: must be true or false, got a string "yes"`,
		`test.yml: :lease_time: must be an integer`,
		`test.yml: :routers: must be a list, got a map`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestDefaultsApplyWhenAbsentOrNull(t *testing.T) {
	s := parse(t, ":dns_server:\n")
	if got := s.String("dns_server", "localhost"); got != "localhost" {
		t.Errorf("null value: got %q, want the default", got)
	}
	if got := s.Int("dns_ttl", 86400); got != 86400 {
		t.Errorf("absent int: got %d", got)
	}
	if got := s.Bool("verify", true); !got {
		t.Error("absent bool: want default true")
	}
	if s.Err() != nil {
		t.Errorf("defaults must not be errors: %v", s.Err())
	}
}

func TestRequired(t *testing.T) {
	s := parse(t, ":template_url: ''\n")
	s.Required("template_url")
	s.Required("puppet_url")
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), ":template_url: is required") || !strings.Contains(err.Error(), ":puppet_url: is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestScalarsAcceptedAsStringsAndLists(t *testing.T) {
	s := parse(t, ":omapi_port: 7911\n:bind_host: '*'\n:ports: [1, two]\n:int_string: '42'\n")
	if got := s.String("omapi_port", ""); got != "7911" {
		t.Errorf("omapi_port = %q", got)
	}
	if got := s.StringList("bind_host", nil); !reflect.DeepEqual(got, []string{"*"}) {
		t.Errorf("bind_host = %v", got)
	}
	if got := s.StringList("ports", nil); !reflect.DeepEqual(got, []string{"1", "two"}) {
		t.Errorf("ports = %v", got)
	}
	if got := s.Int("int_string", 0); got != 42 {
		t.Errorf("int_string = %d", got)
	}
}

func TestUnreadKeysAreReportedAsUnknown(t *testing.T) {
	s := parse(t, ":enabled: true\n:tftproot: /srv\n:tftp_rot: typo\n")
	s.Enabled(EnabledNone)
	s.String("tftproot", "")
	var warnings []string
	s.WarnUnknown(func(m string) { warnings = append(warnings, m) })
	if len(warnings) != 1 || warnings[0] != "test.yml: unknown setting :tftp_rot: ignored" {
		t.Fatalf("warnings = %q", warnings)
	}
}

func TestNestedSectionsShareErrorsWithPath(t *testing.T) {
	s := parse(t, ":subnets:\n  - :network: 10.0.0.0\n    :lease_time: 60\n  - :network: 10.1.0.0\n    :lease_time: long\n  - just-a-string\n")
	subs := s.Sections("subnets")
	if len(subs) != 2 {
		t.Fatalf("got %d subsections", len(subs))
	}
	if got := subs[0].String("network", ""); got != "10.0.0.0" {
		t.Errorf("network = %q", got)
	}
	subs[1].Int("lease_time", 0)
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "test.yml: :subnets:[1]:lease_time: must be an integer") ||
		!strings.Contains(err.Error(), ":subnets: item 2 must be a map") {
		t.Fatalf("err = %v", err)
	}
}

func TestURLValidation(t *testing.T) {
	s := parse(t, ":good: https://puppet.example.com:8140\n:bad: puppet.example.com\n")
	if got := s.URL("good"); got != "https://puppet.example.com:8140" {
		t.Errorf("good = %q", got)
	}
	s.URL("bad")
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), ":bad: must be a URL") {
		t.Errorf("err = %v", err)
	}
}

func TestPathsResolveAgainstTheFilesFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tftp.yml")
	if err := os.WriteFile(file, []byte(":tftproot: boot\n:key: /abs/key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Path("tftproot", ""); got != filepath.Join(dir, "boot") {
		t.Errorf("relative path = %q", got)
	}
	if got := s.Path("key", ""); got != "/abs/key" {
		t.Errorf("absolute path = %q", got)
	}
}

func TestReadableFile(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(present, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewSection(filepath.Join(dir, "x.yml"), map[string]any{":ok": present, ":missing": filepath.Join(dir, "nope.pem")})
	if got := s.ReadableFile("ok", "", true); got != present {
		t.Errorf("ok = %q", got)
	}
	s.ReadableFile("missing", "", true)
	s.ReadableFile("absent", "", true)
	if got := s.ReadableFile("optional", "", false); got != "" {
		t.Errorf("optional = %q", got)
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), ":missing: names a file that cannot be read") || !strings.Contains(err.Error(), ":absent: is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadMissingFileIsDefaults(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), "none.yml"))
	if err != nil || s.Found {
		t.Fatalf("missing file: err=%v found=%v", err, s.Found)
	}
	if s.Enabled(EnabledNone) != EnabledNone {
		t.Error("missing file must mean disabled")
	}
}

func TestParseRejectsBadDocuments(t *testing.T) {
	for doc, want := range map[string]string{
		":enabled: [unclosed":   "invalid YAML",
		"- a\n- b\n":            "top level must be a map",
		"just a string":         "top level must be a map",
		":a: 1\n:a: 2\n":        "invalid YAML", // duplicate keys are refused by yaml.v3
		"\t:enabled: true\n":    "invalid YAML",
		":enabled: true\n---\n": "",
	} {
		_, err := Parse("bad.yml", []byte(doc))
		if want == "" {
			if err != nil {
				t.Errorf("%q: unexpected %v", doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "bad.yml: "+want) {
			t.Errorf("%q: err = %v, want %q", doc, err, want)
		}
	}
}

func TestEmptyDocumentIsEmptySection(t *testing.T) {
	s := parse(t, "---\n# only comments\n")
	if len(s.Keys()) != 0 {
		t.Fatalf("keys = %v", s.Keys())
	}
}
