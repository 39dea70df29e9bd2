package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/config"
	"github.com/smartproxy/smartproxy/core/store"
)

// ensureAdmin creates the first admin when the users table is empty: with
// admin_password, or a generated password printed once on stdout (like the Foreman
// installer's "Initial credentials"). Later starts change nothing.
func ensureAdmin(ctx context.Context, st *store.Store, cfg *config.Config, log *logrus.Logger, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := cfg.AdminPassword
	generated := password == ""
	if generated {
		buf := make([]byte, 18)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(buf)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("admin_password: %w", err)
	}
	if _, err := st.CreateUser(ctx, cfg.AdminLogin, hash, true); err != nil {
		return fmt.Errorf("creating the admin user %s: %w", cfg.AdminLogin, err)
	}
	if generated {
		fmt.Fprintf(stdout, "Initial credentials are %s / %s (shown once; change them or set admin_password)\n", cfg.AdminLogin, password)
		log.Warnf("Created the admin user %s with a generated password, printed once on stdout", cfg.AdminLogin)
	} else {
		log.Infof("Created the admin user %s with admin_password", cfg.AdminLogin)
	}
	return nil
}
