package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
}

func (c encCache) path(certname, rawQuery string) string {
	sum := sha256.Sum256([]byte(rawQuery))
	return filepath.Join(c.dir, certname+"-"+hex.EncodeToString(sum[:6])+".enc")
}

// store replaces the cached answer atomically (a crash leaves the old or the new one).
func (c encCache) store(certname, rawQuery string, body []byte) error {
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
	return os.Rename(tmp.Name(), c.path(certname, rawQuery))
}

// load returns the cached answer and when it was stored.
func (c encCache) load(certname, rawQuery string) ([]byte, time.Time, error) {
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
