package relay

import (
	"testing"
)

// BenchmarkQueueAppend is one client at a time: an fsync per acknowledged report.
func BenchmarkQueueAppend(b *testing.B) {
	q, err := OpenQueue(b.TempDir(), QueueLimits{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	r := rec(0)
	r.Body = make([]byte, 2048)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := q.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueueAppendParallel is many clients at once: appends share fsyncs.
func BenchmarkQueueAppendParallel(b *testing.B) {
	q, err := OpenQueue(b.TempDir(), QueueLimits{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	r := rec(0)
	r.Body = make([]byte, 2048)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := q.Append(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkQueueHeadCommit is the delivery loop's own cost per record (read, and the
// position fsync), without the network: the ceiling of a drain.
func BenchmarkQueueHeadCommit(b *testing.B) {
	q, err := OpenQueue(b.TempDir(), QueueLimits{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	r := rec(0)
	r.Body = make([]byte, 2048)
	for i := 0; i < b.N; i++ {
		if err := q.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Head(nil); err != nil {
			b.Fatal(err)
		}
		if err := q.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
