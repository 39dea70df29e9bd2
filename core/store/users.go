package store

import (
	"context"
	"time"
)

// User is an account that logs in to the API (Basic auth, or OAuth with user mapping).
type User struct {
	ID                   int64
	Login                string
	PasswordHash         string
	Admin                bool
	CreatedAt, UpdatedAt time.Time
}

// CountUsers tells the service whether this is a first start (no users yet).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// CreateUser stores a user; the login must be free (*ConflictError otherwise).
func (s *Store) CreateUser(ctx context.Context, login, passwordHash string, admin bool) (User, error) {
	u := User{Login: login, PasswordHash: passwordHash, Admin: admin, CreatedAt: now()}
	u.UpdatedAt = u.CreatedAt
	err := s.queryRow(ctx, `INSERT INTO users (login, password_hash, admin, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, login, passwordHash, admin, u.CreatedAt, u.UpdatedAt).Scan(&u.ID)
	return u, mapErr(err)
}

// UserByLogin returns a user; ErrNotFound if there is none.
func (s *Store) UserByLogin(ctx context.Context, login string) (User, error) {
	var u User
	err := s.queryRow(ctx, `SELECT id, login, password_hash, admin, created_at, updated_at
		FROM users WHERE login = $1`, login).Scan(&u.ID, &u.Login, &u.PasswordHash, &u.Admin, &u.CreatedAt, &u.UpdatedAt)
	return u, mapErr(err)
}
