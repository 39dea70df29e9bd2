package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/store"
)

// BuildFinisher does on the smart proxies what a host leaving build mode means:
// core/orchestrate implements it (local-boot PXE configs re-deployed through the TFTP
// proxy, the Puppet CA autosign entry removed). Built gets the host as it will be
// saved (Build false), before the handler stores it: an error answers the installer
// 409 and the host stays in build. It must not save the host itself.
type BuildFinisher interface {
	Built(ctx context.Context, h store.Host) error
}

// StoreOnly is the finisher used until core/orchestrate provides one: leaving build
// mode touches no proxy (the handler still stores it and deletes the token).
type StoreOnly struct{}

// Built does nothing.
func (StoreOnly) Built(context.Context, store.Host) error { return nil }

// TrackBuilds wraps the API's orchestrator so every host entering build mode gets a
// fresh token (expiring after tokenDuration; 0 = no token, hosts are found by MAC or
// IP) and loses its old build errors, and a host whose build is switched off through
// the API loses its token. The token is written right after the host row, inside the
// save the orchestrator runs, so PXE configs rendered after the save carry it.
func TrackBuilds(next api.Orchestrator, st *store.Store, tokenDuration time.Duration) api.Orchestrator {
	if next == nil {
		next = api.NoOrchestrator{}
	}
	return &buildTracker{next: next, store: st, duration: tokenDuration, now: time.Now}
}

type buildTracker struct {
	next     api.Orchestrator
	store    *store.Store
	duration time.Duration
	now      func() time.Time
}

func (t *buildTracker) Create(ctx context.Context, h *store.Host, save func(context.Context) error) error {
	return t.next.Create(ctx, h, func(ctx context.Context) error {
		if err := save(ctx); err != nil || !h.Build {
			return err
		}
		return t.start(ctx, h.ID)
	})
}

// Update changes the token with the build mode inside the save. When the update fails
// (the orchestrator has then written the old row back), the token and build errors
// are put back as they were: a failed update leaves no new token behind, and a host
// whose switch out of build failed keeps the token its installer holds.
func (t *buildTracker) Update(ctx context.Context, old store.Host, h *store.Host, save func(context.Context) error) error {
	var before *store.BuildState
	err := t.next.Update(ctx, old, h, func(ctx context.Context) error {
		if err := save(ctx); err != nil || h.Build == old.Build {
			return err
		}
		state, err := t.store.BuildState(ctx, h.ID)
		if err != nil {
			return err
		}
		before = &state
		if h.Build {
			return t.start(ctx, h.ID)
		}
		return t.store.EndBuild(ctx, h.ID)
	})
	if err != nil && before != nil {
		if rerr := t.store.RestoreBuildState(context.WithoutCancel(ctx), *before); rerr != nil {
			return errors.Join(err, fmt.Errorf("restoring the build token of %s: %w", old.Name, rerr))
		}
	}
	return err
}

func (t *buildTracker) Destroy(ctx context.Context, h store.Host, remove func(context.Context) error) error {
	return t.next.Destroy(ctx, h, remove) // the token and build record go with the host row
}

func (t *buildTracker) start(ctx context.Context, hostID int64) error {
	if t.duration <= 0 {
		return t.store.StartBuild(ctx, hostID, nil)
	}
	value, err := newUUID()
	if err != nil {
		return err
	}
	return t.store.StartBuild(ctx, hostID, &store.BuildToken{HostID: hostID, Value: value, ExpiresAt: t.now().Add(t.duration)})
}

// newUUID is a random (version 4) UUID, the form Foreman's tokens have.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a build token: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
