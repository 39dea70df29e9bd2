package relay

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzQueueOpen feeds damaged segment files to the recovery scan: it must not panic,
// and whatever it keeps must be readable and deliverable.
func FuzzQueueOpen(f *testing.F) {
	good, _ := encodeFrame(rec(1))
	two := append(append([]byte{}, good...), good...)
	f.Add(good)
	f.Add(two[:len(two)-3])
	f.Add([]byte{0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 9})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "seg-0000000000000001.log"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := OpenQueue(dir, QueueLimits{})
		if err != nil {
			return // refused as damaged: fine
		}
		defer q.Close()
		for i := q.Stats().Depth; i > 0; i-- {
			if _, err := q.Head(nil); err != nil {
				t.Fatalf("a record kept at open cannot be read: %v", err)
			}
			if err := q.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Append(rec(2)); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}
