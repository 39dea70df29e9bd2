package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/sirupsen/logrus"
)

// User is an authenticated caller of the API.
type User struct {
	ID    int64
	Login string
	Admin bool
}

// APIAdmin is the built-in user a request runs as when it is not mapped to a real
// user: OAuth with oauth_map_users off, and calls from a registered proxy (Foreman's
// anonymous API admin, same login).
var APIAdmin = User{Login: "foreman_api_admin", Admin: true}

// ErrUnknownUser is what a Directory returns for a login it does not know.
var ErrUnknownUser = errors.New("unknown user")

// Directory is the store's user table as auth needs it; auth never touches SQL.
type Directory interface {
	// UserByLogin returns the user and its password hash (from HashPassword);
	// ErrUnknownUser if none.
	UserByLogin(ctx context.Context, login string) (User, string, error)
}

// ProxyHosts lists the registered smart proxies having the Foreman feature named
// ("Puppet", "Puppet CA", ...; "" = any feature), with the host of each one's URL.
type ProxyHosts interface {
	ProxyHosts(ctx context.Context, feature string) ([]ProxyHost, error)
}

// ProxyHost is one registered smart proxy as proxy authentication sees it.
type ProxyHost struct {
	ID   int64
	Name string
	Host string
}

// Defaults for the zero values of Config.
const (
	DefaultReplayWindow  = 5 * time.Minute
	DefaultNonceCapacity = 100_000
	DefaultMaxSignedBody = 16 << 20
)

// Config is the authentication part of foreman-core.yml.
type Config struct {
	OAuthActive                           bool
	OAuthConsumerKey, OAuthConsumerSecret string
	OAuthMapUsers                         bool
	TrustedHosts                          []string // names, IPs, CIDRs, "*.example.com"
	RestrictRegisteredProxies             bool
	TrustedProxies                        []string      // IPs/CIDRs whose X-Forwarded-For/-Proto/-Host/-Port are believed
	ReplayWindow                          time.Duration // OAuth timestamps accepted within ±ReplayWindow; 0 = DefaultReplayWindow

	NonceCapacity int                // nonces remembered at most; 0 = DefaultNonceCapacity
	MaxSignedBody int64              // bytes read to check oauth_body_hash or a signed form; 0 = DefaultMaxSignedBody
	Log           logrus.FieldLogger // refusals are logged here with their reason; nil = logrus standard logger
}

// Authenticator holds the validated configuration and the state (nonces, recent
// password checks) behind the middlewares.
type Authenticator struct {
	cfg            Config
	users          Directory
	proxies        ProxyHosts
	oauth          *oauthVerifier
	passwords      *verifiedPasswords
	trustedHosts   []hostPattern
	trustedProxies []*net.IPNet
	resolver       resolver
	log            logrus.FieldLogger
	now            func() time.Time
}

// New validates cfg and builds the Authenticator.
func New(cfg Config, users Directory, proxies ProxyHosts) (*Authenticator, error) {
	if users == nil || proxies == nil {
		return nil, errors.New("auth: a user directory and a proxy list are required")
	}
	if cfg.OAuthActive && (cfg.OAuthConsumerKey == "" || cfg.OAuthConsumerSecret == "") {
		return nil, errors.New("auth: oauth_active needs oauth_consumer_key and oauth_consumer_secret")
	}
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.ReplayWindow < time.Second {
		return nil, fmt.Errorf("auth: replay window %s is shorter than the 1 s resolution of oauth_timestamp", cfg.ReplayWindow)
	}
	if cfg.NonceCapacity <= 0 {
		cfg.NonceCapacity = DefaultNonceCapacity
	}
	if cfg.MaxSignedBody <= 0 {
		cfg.MaxSignedBody = DefaultMaxSignedBody
	}
	if cfg.Log == nil {
		cfg.Log = logrus.StandardLogger()
	}
	trustedHosts, err := parseHostPatterns(cfg.TrustedHosts)
	if err != nil {
		return nil, fmt.Errorf("auth: trusted_hosts: %w", err)
	}
	trustedProxies, err := parseNetworks(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("auth: trusted_proxies: %w", err)
	}
	a := &Authenticator{
		cfg: cfg, users: users, proxies: proxies,
		passwords:      newVerifiedPasswords(5*time.Minute, 10_000),
		trustedHosts:   trustedHosts,
		trustedProxies: trustedProxies,
		resolver:       net.DefaultResolver,
		log:            cfg.Log.WithField("component", "auth"),
		now:            time.Now,
	}
	a.oauth = &oauthVerifier{
		consumerKey: cfg.OAuthConsumerKey, consumerSecret: cfg.OAuthConsumerSecret,
		window: cfg.ReplayWindow, maxBody: cfg.MaxSignedBody,
		nonces: newNonceStore(cfg.ReplayWindow, cfg.NonceCapacity),
		now:    func() time.Time { return a.now() },
		origin: a.Origin,
	}
	return a, nil
}

const (
	userKey  = "auth.user"
	proxyKey = "auth.proxy"
)

// UserFrom is the user a request runs as, set by the middlewares.
func UserFrom(c echo.Context) (User, bool) {
	u, ok := c.Get(userKey).(User)
	return u, ok
}

// ProxyFrom is the registered smart proxy that made the request, when
// RequireProxyOrUser recognised one (Foreman's detected_proxy).
func ProxyFrom(c echo.Context) (ProxyHost, bool) {
	p, ok := c.Get(proxyKey).(ProxyHost)
	return p, ok
}

// errorBody is Foreman's API error layout, {"error":{...}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}

// unauthorized answers 401 as Foreman's api/v2/errors/unauthorized does: the login
// named when one was given (Basic), else empty (OAuth, none).
func unauthorized(c echo.Context, login string) error {
	return c.JSON(401, errorBody{errorDetail{Message: "Unable to authenticate user " + login}})
}

// accessDenied answers 403 as Foreman's api/v2/errors/access_denied does.
func accessDenied(c echo.Context, details string) error {
	return c.JSON(403, errorBody{errorDetail{Message: "Access denied", Details: details}})
}
