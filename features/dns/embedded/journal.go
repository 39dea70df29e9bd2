package embedded

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// The state directory holds a snapshot of every zone's records and a journal of the
// changes acknowledged since. Each change is appended to the journal and fsynced
// before it is applied and acknowledged, so an acknowledged record survives kill -9
// and power loss. At start the journal is replayed onto the snapshot and both are
// compacted into a new snapshot (written aside, fsynced, renamed).
const (
	snapshotFile = "records.json"
	journalFile  = "journal.jsonl"
	lockFile     = "lock"
)

// entry is one acknowledged change of one zone.
type entry struct {
	Zone   string   `json:"zone"`
	Serial uint32   `json:"serial"`
	Del    []string `json:"del,omitempty"`
	Add    []string `json:"add,omitempty"`
}

type snapshot struct {
	Version int                     `json:"version"`
	Zones   map[string]snapshotZone `json:"zones"`
}

type snapshotZone struct {
	Serial  uint32   `json:"serial"`
	Records []string `json:"records"`
}

// journal is the open state directory.
type journal struct {
	dir  string
	f    *os.File
	lock *os.File
}

// openJournal locks dir (one process per state directory) and reads what it holds.
func openJournal(dir string) (*journal, snapshot, []entry, error) {
	var snap snapshot
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, snap, nil, fmt.Errorf("state dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, snap, nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, snap, nil, fmt.Errorf("state dir %s is in use by another process: %w", dir, err)
	}
	j := &journal{dir: dir, lock: lock}
	if snap, err = readSnapshot(filepath.Join(dir, snapshotFile)); err != nil {
		j.close()
		return nil, snap, nil, err
	}
	entries, err := j.openAndReplay()
	if err != nil {
		j.close()
		return nil, snap, nil, err
	}
	return j, snap, entries, nil
}

func readSnapshot(path string) (snapshot, error) {
	snap := snapshot{Version: 1, Zones: map[string]snapshotZone{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return snap, nil
	}
	if err != nil {
		return snap, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &snap); err != nil {
		return snap, fmt.Errorf("reading %s: %w", path, err)
	}
	if snap.Zones == nil {
		snap.Zones = map[string]snapshotZone{}
	}
	return snap, nil
}

// openAndReplay reads the journal's entries. A last line cut short by a crash was
// never acknowledged: it is dropped and the file truncated after the last whole entry.
func (j *journal) openAndReplay() ([]entry, error) {
	path := filepath.Join(j.dir, journalFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	j.f = f
	var entries []entry
	r := bufio.NewReader(f)
	var good int64
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimSpace(line)) > 0 {
				break // the unfinished tail
			}
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			if _, peekErr := r.Peek(1); peekErr == nil {
				return nil, fmt.Errorf("%s: entry at byte %d is corrupt: %w", path, good, err)
			}
			break
		}
		entries = append(entries, e)
		good += int64(len(line))
	}
	if err := f.Truncate(good); err != nil {
		return nil, fmt.Errorf("truncating the unfinished end of %s: %w", path, err)
	}
	return entries, f.Sync()
}

// append makes e durable.
func (j *journal) append(e entry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding journal entry for %s: %w", e.Zone, err)
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("syncing journal: %w", err)
	}
	return nil
}

// compact replaces the snapshot with snap and empties the journal. A crash in between
// leaves the new snapshot and the old journal, whose replay changes nothing more.
func (j *journal) compact(snap snapshot) error {
	data, err := json.MarshalIndent(snap, "", " ")
	if err != nil {
		return fmt.Errorf("encoding snapshot: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(j.dir, snapshotFile), data, 0o640); err != nil {
		return fmt.Errorf("installing snapshot: %w", err)
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("emptying journal: %w", err)
	}
	return j.f.Sync()
}

func (j *journal) close() error {
	var err error
	if j.f != nil {
		err = j.f.Close()
	}
	if j.lock != nil {
		_ = j.lock.Close() // closing releases the flock
	}
	return err
}
