package etcdstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/smartproxy/smartproxy/internal/tlsclient"
)

// ErrUnavailable is what every failed request wraps: the cluster did not answer
// within the timeout (no quorum, or no member reachable). Callers map it to 503.
var ErrUnavailable = errors.New("etcd is unavailable")

// Client is one proxy's connection to the cluster, scoped to the key prefix.
// Clients of one process that reach the cluster the same way share a connection.
type Client struct {
	cfg    Config
	cli    *clientv3.Client
	conn   connKey
	closed sync.Once
}

// Open connects (lazily: gRPC dials in the background) and checks that the
// cluster answers a linearizable read, so a wrong endpoint or certificate is an
// error at start rather than at the first lease. Features with the same endpoints,
// TLS files and timeout (the global :state_backend: of settings.yml) share one
// connection: one set of gRPC streams and keepalives per process, not per feature.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	key := connKeyOf(cfg)
	cli, err := conns.acquire(key, func() (*clientv3.Client, error) { return dial(cfg) })
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, cli: cli, conn: key}
	if _, err := c.Revision(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func dial(cfg Config) (*clientv3.Client, error) {
	cc := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.Timeout,
		Logger:      zap.NewNop(), // failures reach the caller as errors
		// Keep a dead member's connection from looking alive for long.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: cfg.Timeout,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc, err := tlsclient.Config(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return cli, nil
}

// Close gives the connection back; the last client of a connection closes it.
// Calling it twice is harmless.
func (c *Client) Close() error {
	var err error
	c.closed.Do(func() { err = conns.release(c.conn) })
	return err
}

// Prefix is the key prefix every key of this client lives under.
func (c *Client) Prefix() string { return c.cfg.Prefix }

// Endpoints are the configured client URLs.
func (c *Client) Endpoints() []string { return c.cfg.Endpoints }

// Raw is the underlying client, for tests and tools.
func (c *Client) Raw() *clientv3.Client { return c.cli }

// unavailable wraps a failed request so that the message says what to check.
func (c *Client) unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s got no answer from %s within %s (quorum lost or members unreachable): %v",
		ErrUnavailable, op, strings.Join(c.cfg.Endpoints, ","), c.cfg.Timeout, err)
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// attempt runs one request in a share of the timeout and retries it until the
// timeout: a request forwarded to a leader that just died is never answered
// (the member gives up only after several seconds), while the next attempt
// reaches the newly elected leader. Retrying is safe for reads, and for writes
// through compareAnd (see there).
func (c *Client) attempt(ctx context.Context, what string, req func(context.Context) error) error {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	each := max(c.cfg.Timeout/3, 500*time.Millisecond)
	for {
		actx, acancel := context.WithTimeout(ctx, each)
		err := req(actx)
		acancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.unavailable(what, err)
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// Revision is the cluster's current revision, read through the leader (a
// linearizable read needs quorum, so this is also the health check). It reads
// one key, not the prefix: any answer's header carries the revision, and
// counting the prefix made etcd 3.4 walk every key (mirrors ask every 2 s).
func (c *Client) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := c.attempt(ctx, "reading the revision", func(ctx context.Context) error {
		resp, err := c.cli.Get(ctx, c.cfg.Prefix, clientv3.WithCountOnly())
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	return rev, err
}

// ClaimResult is the outcome of Claim or Release.
type ClaimResult struct {
	Won bool
	// Revision: when won, the key's new mod revision (0 after a delete); when lost,
	// the mod revision of what the key holds now (0: absent), with Value.
	Revision int64
	Value    []byte
}

// Claim writes value to key (relative to the prefix) only if the key is still at
// expectRev (0: absent), in one transaction: of two nodes deciding on the same
// state, exactly one wins. A loser gets the key's current value to decide again.
func (c *Client) Claim(ctx context.Context, key string, expectRev int64, value []byte) (ClaimResult, error) {
	return c.compareAnd(ctx, key, expectRev, clientv3.OpPut(c.cfg.Prefix+key, string(value)), "claiming "+key)
}

// Release deletes key only if it is still at expectRev.
func (c *Client) Release(ctx context.Context, key string, expectRev int64) (ClaimResult, error) {
	res, err := c.compareAnd(ctx, key, expectRev, clientv3.OpDelete(c.cfg.Prefix+key), "releasing "+key)
	if res.Won {
		res.Revision = 0
	}
	return res, err
}

func (c *Client) compareAnd(ctx context.Context, key string, expectRev int64, op clientv3.Op, what string) (ClaimResult, error) {
	full := c.cfg.Prefix + key
	tries := 0
	var resp *clientv3.TxnResponse
	err := c.attempt(ctx, what, func(ctx context.Context) error {
		tries++
		var err error
		resp, err = c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(full), "=", expectRev)).
			Then(op).
			Else(clientv3.OpGet(full)).
			Commit()
		return err
	})
	if err != nil {
		return ClaimResult{}, err
	}
	if resp.Succeeded {
		// A transaction with one write makes one revision: the key's mod revision.
		return ClaimResult{Won: true, Revision: resp.Header.Revision}, nil
	}
	res := ClaimResult{}
	if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) == 1 {
		res.Revision, res.Value = r.Kvs[0].ModRevision, r.Kvs[0].Value
	}
	// An attempt that failed may have been applied before its answer was lost:
	// then the key holds exactly what we wrote (or is gone, for a release).
	if tries > 1 && op.IsPut() && res.Revision != 0 && string(res.Value) == string(op.ValueBytes()) {
		res.Won = true
	}
	if tries > 1 && op.IsDelete() && res.Revision == 0 {
		res.Won = true
	}
	return res, nil
}

// Get reads one key (linearizable); rev 0 means absent.
func (c *Client) Get(ctx context.Context, key string) (value []byte, rev int64, err error) {
	err = c.attempt(ctx, "reading "+key, func(ctx context.Context) error {
		resp, err := c.cli.Get(ctx, c.cfg.Prefix+key)
		if err == nil && len(resp.Kvs) == 1 {
			value, rev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
		}
		return err
	})
	return value, rev, err
}

// Change is one key of ClaimAll: Value nil deletes the key.
// ExpectRev AnyRevision writes the key whatever its revision. Keep only requires
// the key to be at ExpectRev and leaves it as it is.
type Change struct {
	Key       string
	ExpectRev int64
	Value     []byte
	Keep      bool
}

// AnyRevision as a Change's ExpectRev writes the key without comparing it: for a
// key every writer rewrites (a counter whose mod revision is what matters).
const AnyRevision int64 = -1

// MaxChanges is how many changes one ClaimAll may carry (etcd's default
// --max-txn-ops is 128).
const MaxChanges = 128

// ClaimAll applies every change in one transaction if every key is still at its
// expected revision, else none (then the caller claims them one by one to learn
// which lost). One transaction is one raft entry: a turn's leases cost one
// consensus round and one fsync per member instead of one each. Keys must be
// distinct. The revision returned is every written key's new mod revision.
func (c *Client) ClaimAll(ctx context.Context, changes []Change) (bool, int64, error) {
	if len(changes) > MaxChanges {
		return false, 0, fmt.Errorf("etcdstate: %d changes in one transaction, at most %d", len(changes), MaxChanges)
	}
	cmps := make([]clientv3.Cmp, 0, len(changes))
	ops := make([]clientv3.Op, 0, len(changes))
	for _, ch := range changes {
		full := c.cfg.Prefix + ch.Key
		if ch.ExpectRev != AnyRevision {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(full), "=", ch.ExpectRev))
		}
		switch {
		case ch.Keep:
		case ch.Value == nil:
			ops = append(ops, clientv3.OpDelete(full))
		default:
			ops = append(ops, clientv3.OpPut(full, string(ch.Value)))
		}
	}
	var resp *clientv3.TxnResponse
	err := c.attempt(ctx, fmt.Sprintf("claiming %d keys", len(changes)), func(ctx context.Context) error {
		var err error
		resp, err = c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return false, 0, err
	}
	return resp.Succeeded, resp.Header.Revision, nil
}
