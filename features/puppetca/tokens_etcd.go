package puppetca

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// tokenKeeper keeps the issued tokens: the tokens file (tokenStore, the default) or
// etcd (sharedTokens) when several proxies share the autosign state.
type tokenKeeper interface {
	All() ([]string, error)
	Add(token string, drop func(string) bool) error
	RemoveIf(remove func(string) bool) error
	Take(token string) (bool, error)
}

// tokensPrefix holds one key per token, named by the token's SHA-256 (tokens are
// long), with the token as value.
const tokensPrefix = "puppetca/tokens/"

// sharedTokens keeps tokens in etcd: every node lists them from its watched copy,
// and Take spends a token with a delete at the revision a linearizable read found,
// so of two nodes validating CSRs with the same token exactly one signs.
type sharedTokens struct {
	cli    *etcdstate.Client
	mirror *etcdstate.Mirror

	mu     sync.Mutex
	tokens map[string]storedToken // key -> token and its revision
}

type storedToken struct {
	token string
	rev   int64
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokensPrefix + hex.EncodeToString(sum[:])
}

// openSharedTokens connects and loads the tokens; a cluster that does not answer
// fails the start.
func openSharedTokens(ctx context.Context, cfg etcdstate.Config) (*sharedTokens, error) {
	cli, err := etcdstate.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &sharedTokens{cli: cli, tokens: map[string]storedToken{}}
	s.mirror = cli.NewMirror(tokensPrefix, s.apply)
	if err := s.mirror.Start(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return s, nil
}

func (s *sharedTokens) close() error {
	s.mirror.Stop()
	return s.cli.Close()
}

func (s *sharedTokens) apply(events []etcdstate.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		if ev.Deleted {
			delete(s.tokens, ev.Key)
		} else {
			s.tokens[ev.Key] = storedToken{token: string(ev.Value), rev: ev.Revision}
		}
	}
}

func (s *sharedTokens) snapshot() map[string]storedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]storedToken, len(s.tokens))
	for k, v := range s.tokens {
		out[k] = v
	}
	return out
}

// All lists the tokens of the local copy (sorted: the copy has no order).
func (s *sharedTokens) All() ([]string, error) {
	var out []string
	for _, st := range s.snapshot() {
		out = append(out, st.token)
	}
	sort.Strings(out)
	return out, nil
}

// Add stores token; the tokens drop selects (expired) are deleted on the way, each
// only if unchanged since the copy saw it.
func (s *sharedTokens) Add(token string, drop func(string) bool) error {
	res, err := s.cli.Claim(context.Background(), tokenKey(token), 0, []byte(token))
	if err != nil {
		return err
	}
	if res.Won {
		s.mu.Lock()
		s.tokens[tokenKey(token)] = storedToken{token: token, rev: res.Revision}
		s.mu.Unlock()
	}
	return s.RemoveIf(drop)
}

// RemoveIf deletes the tokens remove selects.
func (s *sharedTokens) RemoveIf(remove func(string) bool) error {
	for key, st := range s.snapshot() {
		if !remove(st.token) {
			continue
		}
		if _, err := s.cli.Release(context.Background(), key, st.rev); err != nil {
			return err
		}
		s.mu.Lock()
		if s.tokens[key].rev == st.rev {
			delete(s.tokens, key)
		}
		s.mu.Unlock()
	}
	return nil
}

// Take spends token: a linearizable read (the token may have been issued through
// another node a moment ago, before this node's copy has it), then a delete at the
// revision read. Only the node whose delete wins may sign.
func (s *sharedTokens) Take(token string) (bool, error) {
	key := tokenKey(token)
	value, rev, err := s.cli.Get(context.Background(), key)
	if err != nil {
		return false, err
	}
	if rev == 0 || string(value) != token {
		return false, nil
	}
	res, err := s.cli.Release(context.Background(), key, rev)
	if err != nil {
		return false, err
	}
	if res.Won {
		s.mu.Lock()
		delete(s.tokens, key)
		s.mu.Unlock()
	}
	return res.Won, nil
}
