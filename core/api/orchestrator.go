package api

import (
	"context"

	"github.com/smartproxy/smartproxy/core/store"
)

// Orchestrator is the seam for issue 12: what creating, changing or deleting a host
// means on the smart proxies (DNS, DHCP, TFTP, Puppet CA), with reverse rollback. The
// API validates the request, then hands the host and the store write to the
// orchestrator, which decides when to call it (Foreman's queue runs proxy tasks around
// the database save). An error it returns is answered 422 with the error's text in
// errors.base, and the host is then expected unchanged in the store.
type Orchestrator interface {
	Create(ctx context.Context, h *store.Host, save func(context.Context) error) error
	Update(ctx context.Context, old store.Host, h *store.Host, save func(context.Context) error) error
	Destroy(ctx context.Context, h store.Host, remove func(context.Context) error) error
}

// NoOrchestrator stores hosts and touches no proxy (issue 11: hosts are stored only).
type NoOrchestrator struct{}

func (NoOrchestrator) Create(ctx context.Context, _ *store.Host, save func(context.Context) error) error {
	return save(ctx)
}

func (NoOrchestrator) Update(ctx context.Context, _ store.Host, _ *store.Host, save func(context.Context) error) error {
	return save(ctx)
}

func (NoOrchestrator) Destroy(ctx context.Context, _ store.Host, remove func(context.Context) error) error {
	return remove(ctx)
}

type overwriteKey struct{}

// WithOverwrite marks a host change whose client asked to overwrite conflicting DHCP
// and DNS records (Foreman's host[overwrite]); the orchestrator reads it with Overwrite.
func WithOverwrite(ctx context.Context) context.Context {
	return context.WithValue(ctx, overwriteKey{}, true)
}

// Overwrite reports whether the request asked to overwrite conflicting records.
func Overwrite(ctx context.Context) bool {
	on, _ := ctx.Value(overwriteKey{}).(bool)
	return on
}
