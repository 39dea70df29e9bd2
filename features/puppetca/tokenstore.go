package puppetca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// tokenStore is the tokens file: a YAML list of tokens, the Ruby proxy's format, so
// an existing tokens.yml is read as is. Every change rewrites the file durably
// (internal/durable), so a token acknowledged to Foreman survives kill -9 and a crash
// never leaves a half-written list. The mutex makes read-modify-write atomic within
// the process; the file has one writer, this proxy.
type tokenStore struct {
	path string
	mu   sync.Mutex
}

// open makes sure the folder and the file exist.
func (s *tokenStore) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("creating the folder of %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return s.write(nil)
	}
	_, err := s.read()
	return err
}

func (s *tokenStore) read() ([]string, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tokens []string
	if err := yaml.Unmarshal(data, &tokens); err != nil {
		return nil, fmt.Errorf("%s is not a YAML list of tokens: %w", s.path, err)
	}
	return tokens, nil
}

func (s *tokenStore) write(tokens []string) error {
	if tokens == nil {
		tokens = []string{}
	}
	data, err := yaml.Marshal(tokens)
	if err != nil {
		return fmt.Errorf("encoding tokens: %w", err)
	}
	return durable.WriteFile(s.path, append([]byte("---\n"), data...), 0o600)
}

// All returns every stored token.
func (s *tokenStore) All() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

// Add stores token, dropping the ones drop selects (expired ones) on the way.
func (s *tokenStore) Add(token string, drop func(string) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens, err := s.read()
	if err != nil {
		return err
	}
	tokens = slices.DeleteFunc(tokens, drop)
	return s.write(append(tokens, token))
}

// RemoveIf drops the tokens remove selects.
func (s *tokenStore) RemoveIf(remove func(string) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens, err := s.read()
	if err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(tokens), remove)
	if len(kept) == len(tokens) {
		return nil
	}
	return s.write(kept)
}

// Take removes token and reports whether it was stored: the one place a token is
// spent, so two CSRs carrying the same token cannot both win.
func (s *tokenStore) Take(token string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens, err := s.read()
	if err != nil {
		return false, err
	}
	if !slices.Contains(tokens, token) {
		return false, nil
	}
	return true, s.write(slices.DeleteFunc(tokens, func(t string) bool { return t == token }))
}
