package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// members are the demo's three etcd processes (Debian's etcd-server), TLS on the client
// and the peer side with the demo's CA, client certificates required on both.
func (l layout) members(etcdBin string) []*child {
	names := l.memberNames()
	var initial []string
	for i, name := range names {
		initial = append(initial, name+"="+l.peerURL(i+1))
	}
	var out []*child
	for i, name := range names {
		cert, key, ca := l.pki.Path("etcd.pem"), l.pki.Path("etcd-key.pem"), l.pki.Path("ca.pem")
		out = append(out, &child{name: name, pidFile: l.pidFile(name), logFile: l.path("etcd", name+".log"), args: []string{etcdBin,
			"--name", name, "--data-dir", l.path("etcd", name),
			"--listen-client-urls", l.clientURL(i + 1), "--advertise-client-urls", l.clientURL(i + 1),
			"--listen-peer-urls", l.peerURL(i + 1), "--initial-advertise-peer-urls", l.peerURL(i + 1),
			// Read only on the first start; later runs rejoin from the data directory.
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "smartproxy-ha-demo",
			"--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", ca,
			"--peer-cert-file", cert, "--peer-key-file", key, "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
			// A killed leader is replaced in about a second.
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			// etcd is talkative (and its gRPC layer writes to stderr besides): everything
			// goes to the member's log file, this program says what matters.
			"--logger", "zap", "--log-outputs", "stderr",
		}})
	}
	return out
}

// backend is the proxies' view of the cluster, for waiting on it.
func (l layout) backend() etcdstate.Config {
	return etcdstate.Config{Backend: etcdstate.BackendEtcd, Endpoints: l.endpoints(), CAFile: l.pki.Path("ca.pem"),
		CertFile: l.pki.Path("proxy.pem"), KeyFile: l.pki.Path("proxy-key.pem"), Prefix: "/smartproxy-ha/", Timeout: 3 * time.Second}
}

// waitQuorum waits until a linearizable read answers: the proxies fail their etcd
// modules at start without it.
func (l layout) waitQuorum(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		cli, err := etcdstate.Open(ctx, l.backend())
		if err == nil {
			cli.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the etcd cluster has no quorum after %s (logs in %s): %w", limit, l.path("etcd"), err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
