package api

import (
	"context"
	"errors"
	"strconv"

	"github.com/smartproxy/smartproxy/core/respond"
	"github.com/smartproxy/smartproxy/core/store"
)

// checkProxy validates a proxy reference: it must exist and run feature (Foreman's
// proxy_features validation).
func (a *API) checkProxy(ctx context.Context, v *respond.Errors, field string, id *int64, feature string) error {
	if id == nil {
		return nil
	}
	p, err := a.store.SmartProxy(ctx, *id)
	if errors.Is(err, store.ErrNotFound) {
		v.Add(field, "not found: no smart proxy with id %d", *id)
		return nil
	}
	if err != nil {
		return err
	}
	if !p.HasFeature(feature) {
		v.Add(field, "does not have the %s feature", feature)
	}
	return nil
}

// checkExists validates a reference to another resource by id.
func checkExists[T any](ctx context.Context, v *respond.Errors, field, what string, id *int64, load func(context.Context, int64) (T, error)) error {
	if id == nil {
		return nil
	}
	_, err := load(ctx, *id)
	if errors.Is(err, store.ErrNotFound) {
		v.Add(field, "not found: no %s with id %d", what, *id)
		return nil
	}
	return err
}

// checkAllExist validates a list of references.
func checkAllExist[T any](ctx context.Context, v *respond.Errors, field, what string, list []int64, load func(context.Context, int64) (T, error)) error {
	for _, id := range list {
		if err := checkExists(ctx, v, field, what, &id, load); err != nil {
			return err
		}
	}
	return nil
}

// nameOf is the name shown beside a reference ("domain_name"), nil when unset.
func nameOf[T any](ctx context.Context, id *int64, load func(context.Context, int64) (T, error), name func(T) string) (*string, error) {
	if id == nil {
		return nil, nil
	}
	v, err := load(ctx, *id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n := name(v)
	return &n, nil
}

// memoName is nameOf remembered in memo under kind and id.
func memoName[T any](ctx context.Context, memo map[string]*string, kind string, id *int64, load func(context.Context, int64) (T, error), name func(T) string) (*string, error) {
	if id == nil {
		return nil, nil
	}
	key := kind + ":" + strconv.FormatInt(*id, 10)
	if v, ok := memo[key]; ok {
		return v, nil
	}
	v, err := nameOf(ctx, id, load, name)
	if err == nil {
		memo[key] = v
	}
	return v, err
}
