package relay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func rec(i int) Record {
	return Record{Key: fmt.Sprintf("key-%d", i), Method: "POST", Target: "/api/config_reports",
		Header: map[string][]string{"Content-Type": {"application/json"}}, Enqueued: time.Now().UTC(),
		Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func openQueue(t *testing.T, dir string, limits QueueLimits) *Queue {
	t.Helper()
	q, err := OpenQueue(dir, limits)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// deliverN takes n records off the head and checks they are want, want+1, ...
func deliverN(t *testing.T, q *Queue, want, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		got, err := q.Head(nil)
		if err != nil {
			t.Fatal(err)
		}
		if exp := fmt.Sprintf("key-%d", want+i); got.Key != exp || string(got.Body) != fmt.Sprintf(`{"n":%d}`, want+i) {
			t.Fatalf("head is %s %s, want %s", got.Key, got.Body, exp)
		}
		if err := q.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQueueOrderAndReopen(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, QueueLimits{SegmentBytes: 300}) // several segments
	for i := 0; i < 20; i++ {
		if err := q.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	deliverN(t, q, 0, 7)
	// No Close: the process "dies" here; the files are what a kill -9 leaves.
	q2 := openQueue(t, dir, QueueLimits{SegmentBytes: 300})
	if st := q2.Stats(); st.Depth != 13 {
		t.Fatalf("depth after reopen = %d, want 13", st.Depth)
	}
	deliverN(t, q2, 7, 13)
	if st := q2.Stats(); st.Depth != 0 || st.Bytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("stats after draining = %+v", st)
	}
	segs, _ := listSegments(dir)
	if len(segs) != 1 {
		t.Fatalf("delivered segments not removed: %v", segs)
	}
	q.Close()
	q2.Close()
	q3 := openQueue(t, dir, QueueLimits{SegmentBytes: 300})
	if segs, _ := listSegments(dir); len(segs) != 1 || q3.Stats().Depth != 0 {
		t.Fatalf("after reopening a drained queue: segments %v, depth %d", segs, q3.Stats().Depth)
	}
	q3.Close()
}

func TestQueueUncommittedDeliveryComesBackWithItsKey(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, QueueLimits{})
	for i := 0; i < 3; i++ {
		if err := q.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := q.Head(nil)
	// Delivered, then the process died before Commit: the record is sent again with
	// the same key, which the receiver uses to drop the repeat.
	q2 := openQueue(t, dir, QueueLimits{})
	again, _ := q2.Head(nil)
	if again.Key != head.Key {
		t.Fatalf("redelivered key %s, want %s", again.Key, head.Key)
	}
	if !q2.Holds("key-2") || q2.Holds("key-9") {
		t.Fatal("Holds does not know the queued keys")
	}
	q.Close()
	q2.Close()
}

func TestQueueCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, QueueLimits{})
	for i := 0; i < 3; i++ {
		if err := q.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	segs, _ := listSegments(dir)
	path := segmentPath(dir, segs[len(segs)-1])
	full, _ := encodeFrame(rec(3))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(full[:len(full)-5]) // an append torn by the crash: never acknowledged
	f.Close()
	before, _ := os.Stat(path)

	q2 := openQueue(t, dir, QueueLimits{})
	if st := q2.Stats(); st.Depth != 3 {
		t.Fatalf("depth = %d, want 3", st.Depth)
	}
	after, _ := os.Stat(path)
	if after.Size() != before.Size()-int64(len(full)-5) {
		t.Fatalf("torn frame not cut: %d -> %d", before.Size(), after.Size())
	}
	if err := q2.Append(rec(3)); err != nil {
		t.Fatal(err)
	}
	deliverN(t, q2, 0, 4)
	q2.Close()
}

func TestQueueTornPositionSlotUsesTheOther(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, QueueLimits{})
	for i := 0; i < 5; i++ {
		q.Append(rec(i))
	}
	deliverN(t, q, 0, 3) // position writes 1, 2, 3: slot of 3 is (3%2)*32
	q.Close()
	f, _ := os.OpenFile(filepath.Join(dir, positionFile), os.O_WRONLY, 0)
	f.WriteAt([]byte{0xff, 0xff}, positionSlot+10) // tear the newest slot
	f.Close()
	q2 := openQueue(t, dir, QueueLimits{})
	// The older slot says two were delivered: the third comes again (same key).
	deliverN(t, q2, 2, 3)
	q2.Close()
}

func TestQueueLimits(t *testing.T) {
	q := openQueue(t, t.TempDir(), QueueLimits{MaxEntries: 3})
	for i := 0; i < 3; i++ {
		if err := q.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Append(rec(3)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("4th append: %v, want ErrQueueFull", err)
	}
	deliverN(t, q, 0, 1)
	if err := q.Append(rec(3)); err != nil {
		t.Fatalf("append after a delivery: %v", err)
	}
	q.Close()

	frame, _ := encodeFrame(rec(0))
	qb := openQueue(t, t.TempDir(), QueueLimits{MaxBytes: int64(2*len(frame) + 1)})
	qb.Append(rec(0))
	qb.Append(rec(1))
	if err := qb.Append(rec(2)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("append past max bytes: %v, want ErrQueueFull", err)
	}
	qb.Close()
}

func TestQueueConcurrentAppendsShareFsyncs(t *testing.T) {
	q := openQueue(t, t.TempDir(), QueueLimits{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := q.Append(rec(g*1000 + i)); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	// Delivery runs alongside: every record it sees must be one that was appended.
	seen := map[string]bool{}
	for len(seen) < 400 {
		r, err := q.Head(nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[r.Key] {
			t.Fatalf("%s delivered twice", r.Key)
		}
		seen[r.Key] = true
		if err := q.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	q.Close()
}

func TestQueueHeadReturnsOnDone(t *testing.T) {
	q := openQueue(t, t.TempDir(), QueueLimits{})
	done := make(chan struct{})
	errc := make(chan error)
	go func() { _, err := q.Head(done); errc <- err }()
	close(done)
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Head on an empty queue returned a record")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Head did not return when done closed")
	}
	q.Close()
}

// A record damaged on disk after it was queued cannot be read: Head says so (not
// "closed"), and committing past it lets the rest through.
func TestQueueDamagedRecordCanBeSkipped(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, QueueLimits{})
	defer q.Close()
	for i := 0; i < 3; i++ {
		q.Append(rec(i))
	}
	second := q.entries[1]
	f, _ := os.OpenFile(segmentPath(dir, second.segment), os.O_WRONLY, 0)
	f.WriteAt([]byte("XX"), second.offset+second.size-3) // inside record 1's body
	f.Close()
	deliverN(t, q, 0, 1)
	if _, err := q.Head(nil); err == nil || errors.Is(err, errQueueClosed) {
		t.Fatalf("damaged record: %v", err)
	}
	if err := q.Commit(); err != nil {
		t.Fatal(err)
	}
	deliverN(t, q, 2, 1)
}
