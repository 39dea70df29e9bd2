package respond

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/core/search"
	"github.com/smartproxy/smartproxy/core/store"
)

func TestFullMessagesHumanizeAsRails(t *testing.T) {
	v := &Errors{}
	v.Add("name", "can't be blank")
	v.Add("domain_id", "not found: no domain with id %d", 7)
	v.Add("puppetclass_ids", "%s is not a Puppet class", "9")
	v.Add("base", "Host is used by %s", "x")
	v.Add("name", "is invalid")
	want := []string{"Name can't be blank", "Name is invalid", "Domain not found: no domain with id 7",
		"Puppetclass ids 9 is not a Puppet class", "Host is used by x"}
	if got := v.FullMessages(); !reflect.DeepEqual(got, want) {
		t.Fatalf("full messages %q, want %q", got, want)
	}
	if (&Errors{}).Any() || !v.Any() {
		t.Fatal("Any does not tell whether a message was added")
	}
}

func TestNumericID(t *testing.T) {
	for raw, want := range map[string]int64{"12": 12, "12-web.example.test": 12, "web": 0, "0": 0, "-3": 0, "": 0} {
		got, ok := NumericID(raw)
		if ok != (want > 0) || ok && got != want {
			t.Errorf("NumericID(%q) = %d, %v; want %d", raw, got, ok, want)
		}
	}
}

// answer runs h on a request to target and decodes its JSON body.
func answer(t *testing.T, target string, h echo.HandlerFunc) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, target, nil), rec)
	if err := h(c); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %v", rec.Body, err)
	}
	return rec.Code, body
}

func TestErrorLayouts(t *testing.T) {
	code, body := answer(t, "/", func(c echo.Context) error { return NotFound(c, "host", "web") })
	e := body["error"].(map[string]any)
	if code != 404 || e["id"] != "web" || e["message"] != "Resource host not found by id 'web'" ||
		e["full_messages"].([]any)[0] != e["message"] {
		t.Fatalf("404: %d %v", code, body)
	}
	code, body = answer(t, "/", func(c echo.Context) error { return FieldError(c, 3, "mac", "is invalid") })
	e = body["error"].(map[string]any)
	if code != 422 || e["id"] != 3.0 || e["full_messages"].([]any)[0] != "Mac is invalid" ||
		e["errors"].(map[string]any)["mac"].([]any)[0] != "is invalid" {
		t.Fatalf("422: %d %v", code, body)
	}
	code, body = answer(t, "/", func(c echo.Context) error { return BadRequest(c, "unreadable") })
	if code != 400 || body["error"].(map[string]any)["message"] != "unreadable" {
		t.Fatalf("400: %d %v", code, body)
	}
}

func TestSaveFailed(t *testing.T) {
	code, body := answer(t, "/", func(c echo.Context) error {
		return SaveFailed(c, nil, fmt.Errorf("creating: %w", &store.ConflictError{Field: "name"}))
	})
	if code != 422 || body["error"].(map[string]any)["full_messages"].([]any)[0] != "Name has already been taken" {
		t.Fatalf("conflict: %d %v", code, body)
	}
	broken := errors.New("disk full")
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/", nil), httptest.NewRecorder())
	if err := SaveFailed(c, nil, broken); err != broken {
		t.Fatalf("a server error came back as %v", err)
	}
}

func TestListOptions(t *testing.T) {
	var opts store.ListOptions
	code, body := answer(t, "/?search=name%3Dweb&page=2&per_page=5000&order=name+desc", func(c echo.Context) error {
		var idx Index
		var err error
		opts, idx, err = ListOptions(c)
		if err != nil {
			return err
		}
		return Listed(c, idx, store.Counts{Total: 9, Subtotal: 1}, []string{"web"}, nil)
	})
	if code != 200 || body["page"] != 2.0 || body["per_page"] != 1000.0 || body["search"] != "name=web" ||
		body["total"] != 9.0 || body["subtotal"] != 1.0 || body["sort"].(map[string]any)["order"] != "DESC" {
		t.Fatalf("index: %d %v", code, body)
	}
	if opts.Page != 2 || opts.PerPage != 1000 || opts.OrderBy != "name" || !opts.Desc || opts.Search != (search.Condition{Field: "name", Op: "=", Value: "web"}) {
		t.Fatalf("options: %+v", opts)
	}
	code, body = answer(t, "/", func(c echo.Context) error {
		_, idx, _ := ListOptions(c)
		return Listed(c, idx, store.Counts{}, nil, &store.SearchError{Msg: "Field 'colour' not recognized for searching!"})
	})
	if e := body["error"].(map[string]any); code != 400 || e["message"] != "Field 'colour' not recognized for searching!" ||
		e["class"] != "ScopedSearch::QueryNotSupported" {
		t.Fatalf("search error: %d %v", code, body)
	}
}
