// Package auth authenticates callers of the thin Foreman core: users by HTTP Basic
// (bcrypt hashes) or two-legged OAuth 1.0 (our own verifier, RFC 5849, as the
// installer's oauth gem signs), and smart proxies by their verified TLS client
// certificate (or, over plain HTTP, by their address) against the registered
// proxies and trusted_hosts. README.md holds the settings, messages and choices.
package auth
