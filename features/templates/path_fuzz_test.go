package templates

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzRelayPath: whatever a host puts in the path, the relayed URL stays below
// foreman_url's /unattended, keeps one segment per input segment, and decodes back
// to what the host sent.
func FuzzRelayPath(f *testing.F) {
	for _, seed := range [][2]string{
		{"provision", ""}, {"template", "My Group"}, {"..", "x"}, {"a/b", "c?d#e"},
		{"%2e%2e", "."}, {"/", ""}, {"..\\..", "x"}, {"a/../..", "b"}, {"aa:bb:cc:dd:ee:ff", "meta-data"}, {"", "x"}, {"x", "...."},
	} {
		f.Add(seed[0], seed[1])
	}
	base, err := url.Parse("https://foreman.example.com/prefix/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind, rest string) {
		segments := []string{"unattended", kind}
		if rest != "" {
			segments = append(segments, rest)
		}
		rel, err := relayPath(segments)
		if err != nil {
			return
		}
		u, err := url.Parse(base.String() + rel)
		if err != nil {
			t.Fatalf("relayPath(%q) = %q, not a URL: %v", segments, rel, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.Host != base.Host {
			t.Fatalf("relayPath(%q) = %q changes more than the path: %v", segments, rel, u)
		}
		// A server that decodes %2F and %5C before resolving dots must not climb either.
		cleaned := path.Clean(strings.ReplaceAll(u.Path, "\\", "/"))
		if cleaned != "/prefix/unattended" && !strings.HasPrefix(cleaned, "/prefix/unattended/") {
			t.Fatalf("relayPath(%q) = %q leaves /prefix/unattended/: %s", segments, rel, cleaned)
		}
		parts := strings.Split(rel, "/")
		if len(parts) != len(segments) {
			t.Fatalf("relayPath(%q) = %q: %d segments, want %d", segments, rel, len(parts), len(segments))
		}
		for i, p := range parts {
			if back, err := url.QueryUnescape(p); err != nil || back != segments[i] {
				t.Fatalf("segment %q relayed as %q, decodes to %q (%v)", segments[i], p, back, err)
			}
		}
	})
}

func TestInspectLooksLikeRubyHash(t *testing.T) {
	got := inspect(url.Values{"token": {"t"}, "kind": {"provision"}, "mac[]": {"a", "b\"c"}})
	want := `{"kind"=>"provision", "mac[]"=>["a", "b\"c"], "token"=>"t"}`
	if got != want {
		t.Errorf("inspect = %s, want %s", got, want)
	}
	if got := inspect(nil); got != "{}" {
		t.Errorf("inspect(nil) = %s", got)
	}
}

func TestDescribeTruncatesLongReasons(t *testing.T) {
	long := strings.Repeat("é", maxReasonBytes)
	got := describe(404, "text/plain", []byte(long))
	if !strings.HasPrefix(got, "HTTP 404 Not Found: é") || !strings.HasSuffix(got, "...") || len(got) > maxReasonBytes+40 {
		t.Errorf("describe = %q", got)
	}
	if !strings.Contains(got, "é...") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("describe cut a character: %q", got[len(got)-10:])
	}
}
