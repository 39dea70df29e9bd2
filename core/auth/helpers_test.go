package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"
)

// users is a Directory over a map, as the store would answer.
type users map[string]struct {
	user User
	hash string
}

func (u users) UserByLogin(_ context.Context, login string) (User, string, error) {
	e, ok := u[login]
	if !ok {
		return User{}, "", ErrUnknownUser
	}
	return e.user, e.hash, nil
}

// proxies is a ProxyHosts over a list; each proxy lists its features.
type proxies []struct {
	host     ProxyHost
	features []string
}

func (p proxies) ProxyHosts(_ context.Context, feature string) ([]ProxyHost, error) {
	var out []ProxyHost
	for _, e := range p {
		for _, f := range e.features {
			if feature == "" || f == feature {
				out = append(out, e.host)
				break
			}
		}
	}
	return out, nil
}

const (
	testKey    = "key-1"
	testSecret = "s3cr&t ~ with:special/chars"
)

// testUsers has admin (password "changeme") and viewer (password "viewer-pw").
// Hashed once: bcrypt under -race costs a second.
func testUsers(t *testing.T) users {
	t.Helper()
	u, err := sharedUsers()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var sharedUsers = sync.OnceValues(func() (users, error) {
	u := users{}
	for i, login := range []string{"admin", "viewer"} {
		password := map[string]string{"admin": "changeme", "viewer": "viewer-pw"}[login]
		hash, err := HashPassword(password)
		if err != nil {
			return nil, err
		}
		u[login] = struct {
			user User
			hash string
		}{User{ID: int64(i + 1), Login: login, Admin: login == "admin"}, hash}
	}
	return u, nil
})

func oauthConfig() Config {
	return Config{OAuthActive: true, OAuthConsumerKey: testKey, OAuthConsumerSecret: testSecret, OAuthMapUsers: true,
		Log: quietLog()}
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

func newAuth(t *testing.T, cfg Config, u users, p proxies) *Authenticator {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	a, err := New(cfg, u, p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// guarded is an echo app whose every route passes mw; the handler counts its runs
// and answers with the user (and proxy) the middleware set.
type guarded struct {
	echo *echo.Echo
	runs atomic.Int64
}

func newGuarded(mw echo.MiddlewareFunc) *guarded {
	g := &guarded{echo: echo.New()}
	handler := func(c echo.Context) error {
		g.runs.Add(1)
		user, _ := UserFrom(c)
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		answer := map[string]any{"user": user.Login, "body": string(body)}
		if p, ok := ProxyFrom(c); ok {
			answer["proxy"] = p.Name
		}
		return c.JSON(200, answer)
	}
	g.echo.Any("/*", handler, mw)
	return g
}

// gemSign signs req the way the oauth gem 0.5.4 does (foreman-clients.md §3),
// written independently of the verifier: url.QueryEscape with "+" turned into "%20"
// is RFC 3986 encoding. With bodyHash the body's digest is added and signed.
func gemSign(req *http.Request, body []byte, key, secret, method string, timestamp int64, nonce string, bodyHash bool) {
	enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	newHash := map[string]func() hash.Hash{"HMAC-SHA1": sha1.New, "HMAC-SHA256": sha256.New}[method]
	oauth := map[string]string{
		"oauth_consumer_key": key, "oauth_nonce": nonce, "oauth_signature_method": method,
		"oauth_timestamp": fmt.Sprint(timestamp), "oauth_version": "1.0",
	}
	if bodyHash {
		h := newHash()
		h.Write(body)
		oauth["oauth_body_hash"] = base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	var pairs [][2]string
	add := func(values url.Values) {
		for k, vs := range values {
			for _, v := range vs {
				pairs = append(pairs, [2]string{enc(k), enc(v)})
			}
		}
	}
	add(req.URL.Query())
	if req.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		form, _ := url.ParseQuery(string(body))
		add(form)
	}
	for k, v := range oauth {
		add(url.Values{k: {v}})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	joined := make([]string, len(pairs))
	for i, p := range pairs {
		joined[i] = p[0] + "=" + p[1]
	}
	host := strings.ToLower(req.URL.Host)
	host = strings.TrimSuffix(strings.TrimSuffix(host, ":80"), ":443")
	base := strings.ToUpper(req.Method) + "&" + enc(strings.ToLower(req.URL.Scheme)+"://"+host+req.URL.EscapedPath()) + "&" + enc(strings.Join(joined, "&"))
	mac := hmac.New(newHash, []byte(enc(secret)+"&"))
	mac.Write([]byte(base))
	oauth["oauth_signature"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	var fields []string
	for k, v := range oauth {
		fields = append(fields, fmt.Sprintf(`%s="%s"`, enc(k), enc(v)))
	}
	sort.Strings(fields)
	req.Header.Set("Authorization", "OAuth "+strings.Join(fields, ", "))
}

// answer is a response read whole.
type answer struct {
	status int
	body   string
}

func do(t *testing.T, client *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(b)}
}

func newRequest(t *testing.T, method, target string, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func startHTTP(t *testing.T, g *guarded) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(g.echo)
	t.Cleanup(s.Close)
	return s
}
