package etcdstate

import (
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// connKey is what makes two features' connections interchangeable: the same
// members reached with the same TLS files and timeout. The key prefix is not part
// of it (each Client keeps its own).
type connKey struct {
	endpoints         string
	caFile, cert, key string
	timeout           time.Duration
}

func connKeyOf(cfg Config) connKey {
	return connKey{strings.Join(cfg.Endpoints, ","), cfg.CAFile, cfg.CertFile, cfg.KeyFile, cfg.Timeout}
}

// connPool counts the clients of each shared connection.
type connPool struct {
	mu sync.Mutex
	m  map[connKey]*pooledConn
}

type pooledConn struct {
	cli  *clientv3.Client
	refs int
}

// conns is the process's pool.
var conns = &connPool{m: map[connKey]*pooledConn{}}

// acquire returns the connection for key, dialing it when no client holds one.
func (p *connPool) acquire(key connKey, dial func() (*clientv3.Client, error)) (*clientv3.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc, ok := p.m[key]; ok {
		pc.refs++
		return pc.cli, nil
	}
	cli, err := dial() // clientv3.New does not block: gRPC dials in the background
	if err != nil {
		return nil, err
	}
	p.m[key] = &pooledConn{cli: cli, refs: 1}
	return cli, nil
}

// release drops one client of key's connection and closes it with the last.
func (p *connPool) release(key connKey) error {
	p.mu.Lock()
	pc, ok := p.m[key]
	if !ok {
		p.mu.Unlock()
		return nil
	}
	pc.refs--
	if pc.refs > 0 {
		p.mu.Unlock()
		return nil
	}
	delete(p.m, key)
	p.mu.Unlock()
	return pc.cli.Close()
}
