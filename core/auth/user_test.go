package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestBasicAuth(t *testing.T) {
	g := newGuarded(newAuth(t, oauthConfig(), testUsers(t), nil).RequireUser())
	server := startHTTP(t, g)
	for _, c := range []struct {
		name            string
		login, password string
		noAuth          bool
		header          string
		status          int
		body            string
	}{
		{name: "right password", login: "admin", password: "changeme", status: 200, body: `"user":"admin"`},
		{name: "other user", login: "viewer", password: "viewer-pw", status: 200, body: `"user":"viewer"`},
		{name: "wrong password", login: "admin", password: "changeme!", status: 401, body: `{"error":{"message":"Unable to authenticate user admin"}}`},
		{name: "another user's password", login: "viewer", password: "changeme", status: 401, body: `"Unable to authenticate user viewer"`},
		{name: "unknown user", login: "ghost", password: "changeme", status: 401, body: `"Unable to authenticate user ghost"`},
		{name: "no credentials", noAuth: true, status: 401, body: `{"error":{"message":"Unable to authenticate user "}}`},
		{name: "other scheme", header: "Bearer abc", status: 401, body: `"Unable to authenticate user "`},
		{name: "broken basic", header: "Basic !!!", status: 401, body: `"Unable to authenticate user "`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := g.runs.Load()
			req := newRequest(t, "GET", server.URL+"/api/v2/hosts", "")
			switch {
			case c.header != "":
				req.Header.Set("Authorization", c.header)
			case !c.noAuth:
				req.SetBasicAuth(c.login, c.password)
			}
			got := do(t, http.DefaultClient, req)
			if got.status != c.status || !strings.Contains(got.body, c.body) {
				t.Errorf("got %d %s; want %d with %s", got.status, got.body, c.status, c.body)
			}
			wantRuns := int64(0)
			if c.status == 200 {
				wantRuns = 1
			}
			if n := g.runs.Load() - before; n != wantRuns {
				t.Errorf("handler ran %d times, want %d", n, wantRuns)
			}
		})
	}
}

// The memory of recent successes must not outlive a password change.
func TestRememberedPasswordDoesNotSurviveAHashChange(t *testing.T) {
	v := newVerifiedPasswords(time.Minute, 10)
	old, _ := HashPassword("old-password")
	changed, _ := HashPassword("new-password")
	now := time.Now()
	if !v.check("u", "old-password", old, now) || !v.check("u", "old-password", old, now) {
		t.Fatal("right password refused")
	}
	if v.check("u", "old-password", changed, now) {
		t.Error("old password accepted against the new hash")
	}
	if v.check("u", "wrong", old, now) {
		t.Error("wrong password accepted")
	}
	if !v.check("u", "old-password", old, now.Add(2*time.Minute)) {
		t.Error("right password refused after the memory expired")
	}
}

func TestHashPassword(t *testing.T) {
	hash, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2a$10$") {
		t.Errorf("hash %q is not bcrypt cost 10", hash)
	}
	if !CheckPassword(hash, "s3cret") || CheckPassword(hash, "s3cret ") || CheckPassword("not a hash", "s3cret") {
		t.Error("CheckPassword answers wrong")
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("73-byte password hashed; bcrypt would ignore its tail")
	}
}

func TestMappedLoginReadsBothSpellings(t *testing.T) {
	for _, c := range []struct {
		header http.Header
		want   string
		ok     bool
	}{
		{http.Header{"Foreman-User": {"admin"}}, "admin", true},
		{http.Header{"Foreman_user": {"admin"}}, "admin", true}, // what Go makes of foreman_user
		{http.Header{"Foreman-User": {"admin"}, "Foreman_user": {"admin"}}, "admin", true},
		{http.Header{"Foreman-User": {"admin"}, "Foreman_user": {"viewer"}}, "", false},
		{http.Header{}, "", false},
	} {
		got, err := mappedLogin(c.header)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("%v: got %q, %v; want %q ok=%v", c.header, got, err, c.want, c.ok)
		}
	}
}

// brokenUsers is a user store that cannot answer.
type brokenUsers struct{}

func (brokenUsers) UserByLogin(context.Context, string) (User, string, error) {
	return User{}, "", errors.New("database is locked")
}

// A store failure is the server's fault: 500, not a 401 that blames the password.
func TestFailingUserStoreIs500(t *testing.T) {
	a, err := New(Config{Log: quietLog(), RestrictRegisteredProxies: true}, brokenUsers{}, proxies{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mw := range []echo.MiddlewareFunc{a.RequireUser(), a.RequireProxyOrUser("Puppet")} {
		g := newGuarded(mw)
		server := startHTTP(t, g)
		req := newRequest(t, "GET", server.URL+"/api/v2/hosts", "")
		req.SetBasicAuth("admin", "changeme")
		if got := do(t, http.DefaultClient, req); got.status != 500 || g.runs.Load() != 0 {
			t.Errorf("got %d %s, runs %d; want 500 and no run", got.status, got.body, g.runs.Load())
		}
	}
}
