package relay

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// The queue holds fire-and-forget requests (facts, reports) between the 201 the client
// got and the next hop's answer. It is a series of append-only segment files of framed
// records and a position file naming the first record not yet delivered:
//
//	segment  seg-<16 digits>.log: frame*   frame = len u32 | crc32c(payload) u32 | payload
//	payload  metaLen u32 | meta JSON | body
//	position two 32-byte slots, written in turn: seq u64 | segment u64 | offset u64 | crc u32
//
// A record is acknowledged only after its frame is fsynced (appends share fsyncs: group
// commit). The position is fsynced after each delivery, in the slot the previous write
// did not use, so a torn write leaves the other slot valid. A crash between a delivery
// and its position write sends that one record again, with the same idempotency key:
// the receiver drops the repeat. A torn frame at the end of the last segment was never
// acknowledged and is cut off when the queue opens.

// Record is one queued request.
type Record struct {
	Key      string      `json:"key"`    // idempotency key, sent as Idempotency-Key
	Method   string      `json:"method"` // POST
	Target   string      `json:"target"` // escaped path and query below the next hop's URL
	Header   http.Header `json:"header"`
	Enqueued time.Time   `json:"enqueued"`
	Body     []byte      `json:"-"`
}

// ErrQueueFull is returned by Append when the queue is at its entry or byte limit.
var ErrQueueFull = errors.New("relay queue is full")

// errQueueClosed is Head's answer once the queue is closed or its caller is done.
var errQueueClosed = errors.New("relay queue is closed")

// QueueLimits bound what waits on disk.
type QueueLimits struct {
	MaxEntries int
	MaxBytes   int64 // frames of undelivered records
	// SegmentBytes is when a new segment file is started (delivered segments are removed whole).
	SegmentBytes int64
}

const (
	frameHeader  = 8
	positionSlot = 32
	positionFile = "position"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is where an undelivered record sits.
type entry struct {
	segment  uint64
	offset   int64
	size     int64  // whole frame
	n        uint64 // frame number of this process's appends; 0 for records found at open
	key      string
	enqueued time.Time
}

// Queue is the durable FIFO. Append is safe from many goroutines; Head and Commit are
// for the one delivery loop.
type Queue struct {
	dir    string
	limits QueueLimits

	mu       sync.Mutex
	cond     *sync.Cond // signalled when records become durable or the queue closes
	closed   bool
	writeErr error
	seg      uint64   // current segment number
	f        *os.File // current segment, open for append
	size     int64    // current segment's length
	entries  []entry  // undelivered, oldest first; durable once n <= synced
	written  uint64   // frames written so far (monotonic), for group commit
	synced   uint64   // frames known fsynced
	bytes    int64    // sum of entries' sizes
	keys     map[string]int
	readers  map[uint64]*os.File // segments open for reading by Head
	posSeq   uint64
	posFile  *os.File
	syncMu   sync.Mutex // one fsync at a time; waiters then find theirs done
	oldSegs  []uint64   // segments before seg still holding undelivered records
	appended uint64     // counters for metrics
}

// OpenQueue opens (or creates) the queue in dir, cutting a torn tail and skipping what
// the position file says is delivered.
func OpenQueue(dir string, limits QueueLimits) (*Queue, error) {
	if limits.SegmentBytes <= 0 {
		limits.SegmentBytes = 16 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating queue_dir %s: %w", dir, err)
	}
	q := &Queue{dir: dir, limits: limits, keys: map[string]int{}, readers: map[uint64]*os.File{}}
	q.cond = sync.NewCond(&q.mu)
	pf, err := os.OpenFile(filepath.Join(dir, positionFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening queue position: %w", err)
	}
	q.posFile = pf
	posSeg, posOff, err := q.readPosition()
	if err != nil {
		pf.Close()
		return nil, err
	}
	segs, err := listSegments(dir)
	if err != nil {
		pf.Close()
		return nil, err
	}
	for i, s := range segs {
		if s < posSeg {
			_ = os.Remove(segmentPath(dir, s)) // delivered; a crash came before its removal
			continue
		}
		start := int64(0)
		if s == posSeg {
			start = posOff
		}
		if err := q.scan(s, start, i == len(segs)-1); err != nil {
			q.Close()
			return nil, err
		}
	}
	if len(segs) > 0 && segs[len(segs)-1] >= posSeg {
		q.seg = segs[len(segs)-1]
	} else {
		q.seg = max(posSeg, 1)
	}
	if err := q.openCurrent(); err != nil {
		q.Close()
		return nil, err
	}
	holding := map[uint64]bool{}
	for _, e := range q.entries {
		holding[e.segment] = true
		if e.segment != q.seg && (len(q.oldSegs) == 0 || q.oldSegs[len(q.oldSegs)-1] != e.segment) {
			q.oldSegs = append(q.oldSegs, e.segment)
		}
	}
	for _, s := range segs {
		if s >= posSeg && s != q.seg && !holding[s] {
			_ = os.Remove(segmentPath(dir, s)) // delivered to its end before the stop
		}
	}
	return q, nil
}

func segmentPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%016d.log", n))
}

func listSegments(dir string) ([]uint64, error) {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading queue_dir: %w", err)
	}
	var out []uint64
	for _, d := range names {
		n := d.Name()
		if !strings.HasPrefix(n, "seg-") || !strings.HasSuffix(n, ".log") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, "seg-"), ".log"), 10, 64)
		if err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// scan reads segment s from start, adding each whole record. In the last segment a
// bad frame is a torn append (never acknowledged): the file is cut there.
func (q *Queue) scan(s uint64, start int64, last bool) error {
	path := segmentPath(q.dir, s)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening queue segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	off := start
	for off < info.Size() {
		meta, size, err := readFrame(f, off, info.Size(), false)
		if err != nil {
			if last {
				if terr := f.Truncate(off); terr != nil {
					return fmt.Errorf("cutting torn record off %s: %w", path, terr)
				}
				return f.Sync()
			}
			return fmt.Errorf("queue segment %s is damaged at byte %d: %w", path, off, err)
		}
		q.add(entry{segment: s, offset: off, size: size, key: meta.Key, enqueued: meta.Enqueued})
		off += size
	}
	return nil
}

func (q *Queue) add(e entry) {
	q.entries = append(q.entries, e)
	q.bytes += e.size
	q.keys[e.key]++
}

// readFrame reads the frame at off, which ends at or before end: its record (meta
// only unless withBody) and size. A length past end is damage, found before any
// memory is taken for it.
func readFrame(f *os.File, off, end int64, withBody bool) (Record, int64, error) {
	var hdr [frameHeader]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return Record{}, 0, fmt.Errorf("short frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n < 4 || off+frameHeader+int64(n) > end {
		return Record{}, 0, fmt.Errorf("bad frame length %d", n)
	}
	payload := make([]byte, n)
	if _, err := f.ReadAt(payload, off+frameHeader); err != nil {
		return Record{}, 0, fmt.Errorf("short frame: %w", err)
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:8]) {
		return Record{}, 0, errors.New("frame checksum mismatch")
	}
	rec, err := decodePayload(payload, withBody)
	return rec, frameHeader + int64(n), err
}

func encodeFrame(rec Record) ([]byte, error) {
	meta, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	n := 4 + len(meta) + len(rec.Body)
	buf := make([]byte, frameHeader+n)
	binary.BigEndian.PutUint32(buf[0:4], uint32(n))
	binary.BigEndian.PutUint32(buf[8:12], uint32(len(meta)))
	copy(buf[12:], meta)
	copy(buf[12+len(meta):], rec.Body)
	binary.BigEndian.PutUint32(buf[4:8], crc32.Checksum(buf[frameHeader:], castagnoli))
	return buf, nil
}

func decodePayload(p []byte, withBody bool) (Record, error) {
	metaLen := int(binary.BigEndian.Uint32(p[0:4]))
	if metaLen > len(p)-4 {
		return Record{}, errors.New("bad meta length")
	}
	var rec Record
	if err := json.Unmarshal(p[4:4+metaLen], &rec); err != nil {
		return Record{}, fmt.Errorf("bad record meta: %w", err)
	}
	if withBody {
		rec.Body = p[4+metaLen:]
	}
	return rec, nil
}

func (q *Queue) openCurrent() error {
	f, err := os.OpenFile(segmentPath(q.dir, q.seg), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening queue segment: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	q.f, q.size = f, info.Size()
	return durable.SyncDir(q.dir) // the new file's name must survive a crash too
}

// datasync flushes f's data and the metadata needed to read it back (its length), not
// its times: the position file is rewritten in place after every delivery.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// Append stores rec durably and returns once it is fsynced. ErrQueueFull when a limit
// would be passed.
func (q *Queue) Append(rec Record) error {
	frame, err := encodeFrame(rec)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errors.New("relay queue is closed")
	}
	size := int64(len(frame))
	if (q.limits.MaxEntries > 0 && len(q.entries) >= q.limits.MaxEntries) ||
		(q.limits.MaxBytes > 0 && q.bytes+size > q.limits.MaxBytes) {
		q.mu.Unlock()
		return ErrQueueFull
	}
	if q.size > 0 && q.size+size > q.limits.SegmentBytes {
		if err := q.rotate(); err != nil {
			q.mu.Unlock()
			return err
		}
	}
	if _, err := q.f.Write(frame); err != nil {
		// Cut what may have been written, so the next frame starts clean.
		_ = q.f.Truncate(q.size)
		q.mu.Unlock()
		return fmt.Errorf("writing to the relay queue: %w", err)
	}
	q.written++
	mine := q.written
	q.add(entry{segment: q.seg, offset: q.size, size: size, n: mine, key: rec.Key, enqueued: rec.Enqueued})
	q.size += size
	q.appended++
	q.mu.Unlock()
	return q.syncThrough(mine)
}

// rotate starts a new segment; the old one is fsynced first so that everything before
// the new file is durable. Called with mu held.
func (q *Queue) rotate() error {
	if err := datasync(q.f); err != nil {
		return fmt.Errorf("syncing the relay queue: %w", err)
	}
	q.synced = q.written
	old := q.seg
	q.f.Close()
	q.seg++
	if err := q.openCurrent(); err != nil {
		return err
	}
	if n := len(q.entries); n > 0 && q.entries[n-1].segment == old {
		q.oldSegs = append(q.oldSegs, old)
	} else {
		q.dropSegment(old)
	}
	q.cond.Broadcast()
	return nil
}

// syncThrough returns once frame number n (and all before it) is fsynced. Appenders
// arriving while one fsync runs wait for it and then share the next one.
func (q *Queue) syncThrough(n uint64) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	if q.synced >= n {
		q.mu.Unlock()
		return nil
	}
	if q.writeErr != nil {
		err := q.writeErr
		q.mu.Unlock()
		return err
	}
	f, upTo := q.f, q.written
	q.mu.Unlock()
	err := datasync(f)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		// An fsync error may have lost written pages: nothing after it can be trusted.
		q.writeErr = fmt.Errorf("syncing the relay queue: %w", err)
		return q.writeErr
	}
	if upTo > q.synced {
		q.synced = upTo
	}
	q.cond.Broadcast()
	return nil
}

// Head waits for the oldest undelivered durable record and returns it with its body.
// It returns an error when the queue closes or done is closed.
func (q *Queue) Head(done <-chan struct{}) (Record, error) {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		case <-stop:
		}
	}()
	q.mu.Lock()
	for !q.headDurable() && !q.closed && !isClosed(done) {
		q.cond.Wait()
	}
	if q.closed || isClosed(done) {
		q.mu.Unlock()
		return Record{}, errQueueClosed
	}
	e := q.entries[0]
	f, err := q.reader(e.segment)
	q.mu.Unlock()
	if err != nil {
		return Record{}, err
	}
	rec, _, err := readFrame(f, e.offset, e.offset+e.size, true)
	if err != nil {
		return Record{}, fmt.Errorf("reading queued record %s: %w", e.key, err)
	}
	return rec, nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (q *Queue) reader(s uint64) (*os.File, error) {
	if f := q.readers[s]; f != nil {
		return f, nil
	}
	f, err := os.Open(segmentPath(q.dir, s))
	if err != nil {
		return nil, fmt.Errorf("opening queue segment: %w", err)
	}
	q.readers[s] = f
	return f, nil
}

// Commit marks the head record delivered (or dropped) and persists the new position
// before returning; segments left with nothing undelivered are removed.
func (q *Queue) Commit() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.headDurable() {
		return errors.New("relay queue: nothing to commit")
	}
	head := q.entries[0]
	nextSeg, nextOff := head.segment, head.offset+head.size
	if err := q.writePosition(nextSeg, nextOff); err != nil {
		return err
	}
	q.entries = q.entries[1:]
	q.bytes -= head.size
	if q.keys[head.key]--; q.keys[head.key] <= 0 {
		delete(q.keys, head.key)
	}
	// Segments before the head's are fully delivered.
	for len(q.oldSegs) > 0 && (len(q.entries) == 0 || q.oldSegs[0] < q.entries[0].segment) {
		q.dropSegment(q.oldSegs[0])
		q.oldSegs = q.oldSegs[1:]
	}
	return nil
}

// headDurable reports whether the oldest record is fsynced, so it may be delivered:
// one delivered but lost in a crash would reach the core while its client, never
// acknowledged, sends it again.
func (q *Queue) headDurable() bool {
	return len(q.entries) > 0 && q.entries[0].n <= q.synced
}

// dropSegment removes a segment with nothing left to deliver.
func (q *Queue) dropSegment(s uint64) {
	if f := q.readers[s]; f != nil {
		f.Close()
		delete(q.readers, s)
	}
	_ = os.Remove(segmentPath(q.dir, s))
}

// writePosition stores (segment, offset) in the slot not used last, fsynced. Called
// with mu held: the delivery loop is the only writer.
func (q *Queue) writePosition(seg uint64, off int64) error {
	q.posSeq++
	var buf [positionSlot]byte
	binary.BigEndian.PutUint64(buf[0:8], q.posSeq)
	binary.BigEndian.PutUint64(buf[8:16], seg)
	binary.BigEndian.PutUint64(buf[16:24], uint64(off))
	binary.BigEndian.PutUint32(buf[24:28], crc32.Checksum(buf[:24], castagnoli))
	slot := int64(q.posSeq%2) * positionSlot
	if _, err := q.posFile.WriteAt(buf[:], slot); err != nil {
		return fmt.Errorf("writing the relay queue position: %w", err)
	}
	if err := datasync(q.posFile); err != nil {
		return fmt.Errorf("syncing the relay queue position: %w", err)
	}
	return nil
}

// readPosition returns the position of the valid slot with the higher sequence number
// (segment 0, offset 0 for a new queue).
func (q *Queue) readPosition() (uint64, int64, error) {
	buf := make([]byte, 2*positionSlot)
	n, err := q.posFile.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, fmt.Errorf("reading the relay queue position: %w", err)
	}
	buf = buf[:n]
	var bestSeq, bestSeg uint64
	var bestOff int64
	for slot := 0; slot+positionSlot <= len(buf); slot += positionSlot {
		b := buf[slot : slot+positionSlot]
		if crc32.Checksum(b[:24], castagnoli) != binary.BigEndian.Uint32(b[24:28]) {
			continue
		}
		if seq := binary.BigEndian.Uint64(b[0:8]); seq > bestSeq {
			bestSeq, bestSeg, bestOff = seq, binary.BigEndian.Uint64(b[8:16]), int64(binary.BigEndian.Uint64(b[16:24]))
		}
	}
	q.posSeq = bestSeq
	return bestSeg, bestOff, nil
}

// Holds reports whether a record with this idempotency key is waiting, so a repeat
// sent by a previous hop after its crash is not queued twice.
func (q *Queue) Holds(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.keys[key] > 0
}

// QueueStats is what /metrics, the log and v2 show.
type QueueStats struct {
	Depth    int
	Bytes    int64
	Oldest   time.Time // zero when empty
	Appended uint64
}

// Stats returns the queue's current depth, size and oldest record time.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := QueueStats{Depth: len(q.entries), Bytes: q.bytes, Appended: q.appended}
	if len(q.entries) > 0 {
		st.Oldest = q.entries[0].enqueued
	}
	return st
}

// Close closes the files; waiting Head calls return.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.cond.Broadcast()
	var errs []error
	if q.f != nil {
		errs = append(errs, q.f.Close())
	}
	for _, f := range q.readers {
		f.Close()
	}
	if q.posFile != nil {
		errs = append(errs, q.posFile.Close())
	}
	return errors.Join(errs...)
}
