// Package e2e holds end-to-end tests of the two programs together: foreman-core and
// smart-proxy as real processes talking over real TLS on loopback, with certificates
// from internal/testpki. It has no code of its own; `go test ./internal/e2e/` builds
// both binaries and runs the scenarios (see README.md).
package e2e
