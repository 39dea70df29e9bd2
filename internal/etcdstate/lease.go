package etcdstate

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrLeaseGone is PutOnLease's answer when the lease has expired: the key it was
// to join has gone with it.
var ErrLeaseGone = errors.New("etcd lease expired")

// GrantLease asks for a lease of ttl (whole seconds, at least one): every key put
// on it is deleted by the cluster when it expires, whichever node is still there.
// Nobody keeps it alive; it is a lifetime, not a liveness signal.
func (c *Client) GrantLease(ctx context.Context, ttl time.Duration) (int64, error) {
	secs := max(int64(ttl/time.Second), 1)
	var id int64
	err := c.attempt(ctx, "granting a lease", func(ctx context.Context) error {
		resp, err := c.cli.Grant(ctx, secs)
		if err == nil {
			id = int64(resp.ID)
		}
		return err
	})
	return id, err
}

// PutOnLease writes key (relative to the prefix) on lease, whatever its revision
// (a put is safe to retry), and returns the key's new mod revision. An expired
// lease is ErrLeaseGone at once.
func (c *Client) PutOnLease(ctx context.Context, key string, value []byte, lease int64) (int64, error) {
	var rev int64
	var gone bool
	err := c.attempt(ctx, "writing "+key, func(ctx context.Context) error {
		resp, err := c.cli.Put(ctx, c.cfg.Prefix+key, string(value), clientv3.WithLease(clientv3.LeaseID(lease)))
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			gone = true
			return nil
		}
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	if gone {
		return 0, ErrLeaseGone
	}
	return rev, err
}

// ClaimOnLease is Claim for a key that is to live on lease (one just granted):
// written only if still at expectRev.
func (c *Client) ClaimOnLease(ctx context.Context, key string, expectRev int64, value []byte, lease int64) (ClaimResult, error) {
	return c.compareAnd(ctx, key, expectRev,
		clientv3.OpPut(c.cfg.Prefix+key, string(value), clientv3.WithLease(clientv3.LeaseID(lease))), "claiming "+key)
}
