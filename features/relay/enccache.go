package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// certnamePattern is Foreman's constraint on /node/:name ([^.][\w.-]+): anything else
// is not an ENC route there, and it keeps cache file names inside the cache folder.
var certnamePattern = regexp.MustCompile(`^[^./\\][\w.-]+$`)

// encCache keeps the last 200 answer of GET /node/<certname> per certname and query,
// served when the core cannot be reached (as enc.rb does with its own cache, one hop
// closer to the core).
type encCache struct {
	dir string

	mu     sync.Mutex
	stored map[string][32]byte // path -> hash of the answer on disk, to skip rewriting it
}

func (c *encCache) path(certname, rawQuery string) string {
	sum := sha256.Sum256([]byte(rawQuery))
	return filepath.Join(c.dir, certname+"-"+hex.EncodeToString(sum[:6])+".enc")
}

// store replaces the cached answer atomically (a crash leaves the old or the new one).
// An answer equal to the one on disk (the usual case: a node's classification seldom
// changes) is not written again, only its time updated.
func (c *encCache) store(certname, rawQuery string, body []byte) error {
	path := c.path(certname, rawQuery)
	sum := sha256.Sum256(body)
	c.mu.Lock()
	same := c.stored[path] == sum
	c.mu.Unlock()
	if same {
		now := time.Now()
		return os.Chtimes(path, now, now) // when it was last confirmed, as a stale answer tells
	}
	if err := c.write(path, body); err != nil {
		return err
	}
	c.mu.Lock()
	if c.stored == nil {
		c.stored = map[string][32]byte{}
	}
	c.stored[path] = sum
	c.mu.Unlock()
	return nil
}

func (c *encCache) write(path string, body []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".enc-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// load returns the cached answer and when it was stored.
func (c *encCache) load(certname, rawQuery string) ([]byte, time.Time, error) {
	p := c.path(certname, rawQuery)
	body, err := os.ReadFile(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return body, info.ModTime(), nil
}
