package store

import (
	"context"
	"errors"

	"github.com/smartproxy/smartproxy/core/auth"
)

// AuthDirectory is the store as core/auth sees it: users by login and registered
// proxies by feature. Auth never touches SQL; this is the seam.
type AuthDirectory struct{ Store *Store }

var (
	_ auth.Directory  = AuthDirectory{}
	_ auth.ProxyHosts = AuthDirectory{}
)

// UserByLogin implements auth.Directory.
func (d AuthDirectory) UserByLogin(ctx context.Context, login string) (auth.User, string, error) {
	u, err := d.Store.UserByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return auth.User{}, "", auth.ErrUnknownUser
	}
	if err != nil {
		return auth.User{}, "", err
	}
	return auth.User{ID: u.ID, Login: u.Login, Admin: u.Admin}, u.PasswordHash, nil
}

// ProxyHosts implements auth.ProxyHosts.
func (d AuthDirectory) ProxyHosts(ctx context.Context, feature string) ([]auth.ProxyHost, error) {
	list, err := d.Store.ProxyHosts(ctx, feature)
	if err != nil {
		return nil, err
	}
	out := make([]auth.ProxyHost, len(list))
	for i, p := range list {
		out[i] = auth.ProxyHost{ID: p.ID, Name: p.Name, Host: p.Host}
	}
	return out, nil
}
