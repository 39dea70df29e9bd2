// Package coretest sends requests to foreman-core's API in tests and checks its answers
// in Foreman's layouts (core/respond): status, record errors, render_message, index pages.
package coretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Answer is a finished request: status, content type and body, decoded when JSON.
type Answer struct {
	Status      int
	ContentType string
	Body        string
	JSON        map[string]any
}

// Do sends body (a Go value marshalled to JSON, a string sent as is, or nil) asking for JSON.
func Do(t testing.TB, client *http.Client, method, url string, body any) Answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return Read(t, resp)
}

// Read reads and closes resp's body.
func Read(t testing.TB, resp *http.Response) Answer {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(data)}
	json.Unmarshal(data, &a.JSON) // not JSON: Body tells
	return a
}

// Expect checks the status; on a mismatch it shows the body.
func (a Answer) Expect(t testing.TB, status int) Answer {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d; body %s", a.Status, status, a.Body)
	}
	return a
}

// FullMessages are error.full_messages of a 404/422.
func (a Answer) FullMessages() []string {
	e, _ := a.JSON["error"].(map[string]any)
	list, _ := e["full_messages"].([]any)
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = fmt.Sprint(m)
	}
	return out
}

// ExpectFull checks a 404/422 in the record layout (error.id, error.errors) and its
// full messages, in order.
func (a Answer) ExpectFull(t testing.TB, status int, want ...string) {
	t.Helper()
	a.Expect(t, status)
	if got := a.FullMessages(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("full_messages\n%q\nwant\n%q", got, want)
	}
	e, _ := a.JSON["error"].(map[string]any)
	if _, ok := e["errors"].(map[string]any); !ok {
		t.Fatalf("no error.errors object in %s", a.Body)
	}
	if _, ok := e["id"]; !ok {
		t.Fatalf("no error.id in %s", a.Body)
	}
}

// ExpectMessage checks a status and Foreman's render_message body {"message": msg}.
func (a Answer) ExpectMessage(t testing.TB, status int, msg string) {
	t.Helper()
	a.Expect(t, status)
	if a.JSON["message"] != msg {
		t.Fatalf("message %q, want %q (body %s)", a.JSON["message"], msg, a.Body)
	}
}

// ExpectSearchError checks Foreman's answer to a search it cannot run (scoped
// search's QueryNotSupported): 400 {"error":{"message":…,"class":"ScopedSearch::QueryNotSupported"}},
// the message containing msg.
func (a Answer) ExpectSearchError(t testing.TB, msg string) {
	t.Helper()
	a.Expect(t, 400)
	e, _ := a.JSON["error"].(map[string]any)
	if got, _ := e["message"].(string); !strings.Contains(got, msg) || e["class"] != "ScopedSearch::QueryNotSupported" {
		t.Fatalf("search error %s, want message with %q and class ScopedSearch::QueryNotSupported", a.Body, msg)
	}
}

// ID is the id of the record answered.
func (a Answer) ID(t testing.TB) int64 {
	t.Helper()
	id, ok := a.JSON["id"].(float64)
	if !ok {
		t.Fatalf("no id in %s", a.Body)
	}
	return int64(id)
}

// Results are the rows of an index page.
func (a Answer) Results() []map[string]any {
	list, _ := a.JSON["results"].([]any)
	out := make([]map[string]any, len(list))
	for i, r := range list {
		out[i], _ = r.(map[string]any)
	}
	return out
}
