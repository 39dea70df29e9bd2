package auth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// RequireUser lets a request through only with valid user credentials: HTTP Basic,
// or OAuth 1.0 when oauth_active. Anything else is 401
// {"error":{"message":"Unable to authenticate user <login>"}} and the handler never
// runs. A signed body too large to verify is 413.
func (a *Authenticator) RequireUser() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			user, login, err := a.authenticateUser(c.Request())
			if err != nil {
				return a.refuseUser(c, login, err)
			}
			c.Set(userKey, user)
			return next(c)
		}
	}
}

var (
	// errNoCredentials is a request without a Basic or OAuth Authorization header.
	errNoCredentials = errors.New("no credentials")
	// errDirectory is the user store failing: our fault, not the client's, so it is
	// a 500 rather than a 401.
	errDirectory = errors.New("user directory failed")
)

// authenticateUser finds the user behind r's Authorization header. login is the
// name the client claimed (for the 401 message), when Basic gave one.
func (a *Authenticator) authenticateUser(r *http.Request) (user User, login string, err error) {
	header := r.Header.Get("Authorization")
	if isOAuthHeader(header) {
		user, err := a.authenticateOAuth(r)
		return user, "", err
	}
	login, password, ok := r.BasicAuth()
	if !ok {
		return User{}, "", errNoCredentials
	}
	user, hash, err := a.users.UserByLogin(r.Context(), login)
	switch {
	case errors.Is(err, ErrUnknownUser):
		CheckPassword(unknownUserHash(), password) // same time as a wrong password
		return User{}, login, fmt.Errorf("basic: unknown user %q", login)
	case err != nil:
		return User{}, login, fmt.Errorf("%w: basic: looking up %q: %w", errDirectory, login, err)
	}
	if !a.passwords.check(login, password, hash, a.now()) {
		return User{}, login, fmt.Errorf("basic: wrong password for %q", login)
	}
	return user, login, nil
}

// authenticateOAuth verifies the signature, then maps the request to a user: the
// one named by the Foreman-User header (also sent as foreman_user) when
// oauth_map_users, else the built-in API admin.
func (a *Authenticator) authenticateOAuth(r *http.Request) (User, error) {
	if !a.cfg.OAuthActive {
		return User{}, errors.New("oauth: OAuth request but oauth_active is off")
	}
	if err := a.oauth.verify(r); err != nil {
		return User{}, fmt.Errorf("oauth: %w", err)
	}
	if !a.cfg.OAuthMapUsers {
		return APIAdmin, nil
	}
	login, err := mappedLogin(r.Header)
	if err != nil {
		return User{}, fmt.Errorf("oauth: %w", err)
	}
	user, _, err := a.users.UserByLogin(r.Context(), login)
	switch {
	case errors.Is(err, ErrUnknownUser):
		return User{}, fmt.Errorf("oauth: mapping to user %q failed: %w", login, err)
	case err != nil:
		return User{}, fmt.Errorf("%w: oauth: looking up %q: %w", errDirectory, login, err)
	}
	return user, nil
}

// mappedLogin reads the effective user. Rack folds Foreman-User and foreman_user
// into one variable; Go keeps them apart (the second canonicalises to
// Foreman_user), so both are read, and two different values are refused rather than
// guessing which one the client meant.
func mappedLogin(h http.Header) (string, error) {
	dash, underscore := h.Values("Foreman-User"), h.Values("Foreman_user")
	all := append(dash, underscore...)
	if len(all) == 0 {
		return "", errors.New("oauth_map_users is on but no Foreman-User header was sent")
	}
	for _, v := range all[1:] {
		if v != all[0] {
			return "", fmt.Errorf("conflicting Foreman-User headers %q", all)
		}
	}
	return all[0], nil
}

// refuseUser logs why and answers 401 (or 413 for an oversized signed body); a
// failing user store is handed to Echo's error handler as a 500.
func (a *Authenticator) refuseUser(c echo.Context, login string, err error) error {
	if errors.Is(err, errDirectory) {
		return fmt.Errorf("auth: %w", err)
	}
	r := c.Request()
	a.log.WithField("remote_ip", a.ClientIP(r)).Warnf("%s %s: authentication failed: %v", r.Method, r.URL.Path, err)
	if errors.Is(err, errBodyTooLarge) {
		return c.JSON(http.StatusRequestEntityTooLarge, errorBody{errorDetail{
			Message: fmt.Sprintf("Request body larger than %d bytes cannot be verified", a.cfg.MaxSignedBody)}})
	}
	return unauthorized(c, login)
}
