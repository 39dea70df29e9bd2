package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// journal is the append-only file that makes leases and reservations durable.
// Writers append encoded lines under the store lock; one committer goroutine writes
// everything queued since its last turn with one write and one fdatasync (group
// commit), then tells each writer. A reply that depends on a line is sent only from
// that callback, so an acknowledged lease is on disk before the client hears of it.
type journal struct {
	path  string
	fsync bool

	file *os.File
	size int64 // bytes of whole lines in file; a failed write is cut back to it

	mu      sync.Mutex // guards buf, waiters and closed; taken after the store lock
	buf     []byte
	waiters []func(error)
	spare   []byte
	closed  bool // no committer will run again: appends fail at once

	kick chan struct{}

	// commits counts successful writes (each with its fdatasync when fsync is on),
	// for /metrics: creates per commit shows how well writers share them.
	commits atomic.Uint64

	// lines counts lines written since the file was last rewritten, base the lines
	// that rewrite held: together they decide when to compact.
	lines, base int
}

const journalName = "dhcp_embedded.journal"

// minCommitInterval spaces the syncs: under load each one then carries more
// leases, which costs far less CPU than a sync per handful of ACKs, for at most
// this much extra latency on an ACK.
const minCommitInterval = 5 * time.Millisecond

// compactAtLeast keeps compaction (which briefly holds the store lock) rare.
const compactAtLeast = 1 << 20

func newJournal(dir string, fsync bool) *journal {
	return &journal{path: filepath.Join(dir, journalName), fsync: fsync, kick: make(chan struct{}, 1)}
}

// replay calls apply for every whole line of the file. A last line without its
// newline is a write cut short by a crash: it was never acknowledged, so it is
// dropped. A line apply rejects in the middle is reported and skipped.
func (j *journal) replay(apply func(line []byte) error, warn func(string)) error {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening journal %s: %w", j.path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	lineNo := 0
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				warn(fmt.Sprintf("%s: dropping an incomplete last line (%d bytes) left by a crash", j.path, len(line)))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading journal %s: %w", j.path, err)
		}
		lineNo++
		if err := apply(bytes.TrimSuffix(line, []byte("\n"))); err != nil {
			warn(fmt.Sprintf("%s: line %d skipped: %v", j.path, lineNo, err))
		}
	}
}

// rewrite replaces the file with snapshot (whole lines) atomically: a temporary
// file, fsync, rename, fsync of the directory. Appends continue in the new file.
func (j *journal) rewrite(snapshot []byte, lines int) error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("compacting journal into %s: %w", tmp, err)
	}
	if _, err := f.Write(snapshot); err != nil {
		f.Close()
		return fmt.Errorf("compacting journal into %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("compacting journal into %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("compacting journal into %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("compacting journal: %w", err)
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return err
	}
	nf, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("reopening journal %s: %w", j.path, err)
	}
	if j.file != nil {
		j.file.Close()
	}
	j.file, j.size, j.lines, j.base = nf, int64(len(snapshot)), 0, lines
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// append queues one encoded line; done (may be nil) runs after it is durable or
// failed. The caller holds the store lock, so lines are in the order the state changed.
func (j *journal) append(line []byte, done func(error)) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		if done != nil {
			done(errJournalClosed)
		}
		return
	}
	j.buf = append(j.buf, line...)
	j.buf = append(j.buf, '\n')
	if done != nil {
		j.waiters = append(j.waiters, done)
	}
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// takePending empties the queue for a compaction whose snapshot already holds
// every queued change. The caller holds the store lock.
func (j *journal) takePending() ([]byte, []func(error)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	buf, waiters := j.buf, j.waiters
	j.buf, j.waiters = nil, nil
	return buf, waiters
}

// flush writes what is queued (the committer's one turn) and tells the writers.
func (j *journal) flush() {
	j.mu.Lock()
	buf, waiters := j.buf, j.waiters
	j.buf, j.waiters = j.spare[:0], nil
	j.mu.Unlock()
	if len(buf) == 0 && len(waiters) == 0 {
		j.spare = buf
		return
	}
	err := j.writeDurably(buf)
	if err == nil {
		j.lines += bytes.Count(buf, []byte("\n"))
	}
	j.spare = buf
	for _, w := range waiters {
		w(err)
	}
}

// writeDurably appends data and syncs it; on failure the file is cut back to its
// last whole line so later appends do not glue onto a torn one.
func (j *journal) writeDurably(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := j.file.Write(data)
	if err == nil && j.fsync {
		err = unix.Fdatasync(int(j.file.Fd()))
	}
	if err != nil {
		_ = j.file.Truncate(j.size)
		return fmt.Errorf("writing journal %s: %w", j.path, err)
	}
	j.size += int64(len(data))
	j.commits.Add(1)
	return nil
}

// run is the committer: one write and sync per turn for everything queued
// meanwhile, then the callbacks, then afterTurn (which sends the replies the
// callbacks queued). It compacts when the file outgrew the state, and flushes once
// more when ctx ends.
func (j *journal) run(ctx context.Context, compact, afterTurn func()) {
	var last time.Time
	for {
		select {
		case <-j.kick:
		case <-ctx.Done():
			j.flush()
			afterTurn()
			return
		}
		if wait := minCommitInterval - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		j.flush()
		if j.needsCompaction() {
			compact()
		}
		afterTurn()
	}
}

// needsCompaction says when the appended history outgrew the state it describes.
func (j *journal) needsCompaction() bool {
	return j.lines > compactAtLeast && j.lines > 3*j.base
}

// errJournalClosed answers a write that came after the server stopped.
var errJournalClosed = errors.New("the DHCP journal is closed (the server is stopping)")

// close fails what is still queued (the committer has stopped, so nobody would
// write it) and every later append, then closes the file.
func (j *journal) close() error {
	j.mu.Lock()
	j.closed = true
	waiters := j.waiters
	j.buf, j.waiters = nil, nil
	j.mu.Unlock()
	for _, w := range waiters {
		w(errJournalClosed)
	}
	if j.file == nil {
		return nil
	}
	err := j.file.Close()
	j.file = nil
	return err
}
