// Package logging sets up logrus the way the Ruby proxy logs (file or STDOUT, level,
// "%d %.8X{request} [%.1l] %m" lines) and keeps the in-memory buffer GET /logs serves.
package logging

import (
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// Entry is one buffered log line (spec §5.7).
type Entry struct {
	Timestamp float64 `json:"timestamp"`
	Level     string  `json:"level"`
	Message   string  `json:"message"`
	Backtrace string  `json:"backtrace,omitempty"`
	RequestID string  `json:"request_id,omitempty"`
}

// Buffer is two rings: the main one (log_buffer entries) and a tail that keeps ERROR and
// worse entries evicted from the main one (log_buffer_errors), plus the failure
// message of every module that failed to start.
type Buffer struct {
	mu       sync.Mutex
	main     ring
	tail     ring
	failed   map[string]string
	minLevel logrus.Level
}

type ring struct {
	items []Entry
	start int
	n     int
}

func (r *ring) push(e Entry) (evicted Entry, full bool) {
	if len(r.items) == 0 {
		return e, true // zero capacity: everything passes through
	}
	if r.n < len(r.items) {
		r.items[(r.start+r.n)%len(r.items)] = e
		r.n++
		return Entry{}, false
	}
	evicted = r.items[r.start]
	r.items[r.start] = e
	r.start = (r.start + 1) % len(r.items)
	return evicted, true
}

func (r *ring) appendTo(out []Entry, from float64) []Entry {
	for i := 0; i < r.n; i++ {
		e := r.items[(r.start+i)%len(r.items)]
		if e.Timestamp >= from {
			out = append(out, e)
		}
	}
	return out
}

// NewBuffer makes a buffer of the given capacities that keeps entries at minLevel or above.
func NewBuffer(size, tailSize int, minLevel logrus.Level) *Buffer {
	return &Buffer{main: ring{items: make([]Entry, size)}, tail: ring{items: make([]Entry, tailSize)},
		failed: map[string]string{}, minLevel: minLevel}
}

// Add buffers one entry.
func (b *Buffer) Add(e Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evicted, full := b.main.push(e)
	if full && (evicted.Level == "ERROR" || evicted.Level == "FATAL" || evicted.Level == "UNKNOWN") {
		b.tail.push(evicted)
	}
}

// Since returns tail entries then main entries, oldest first, with timestamp >= from.
func (b *Buffer) Since(from float64) []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, 0, b.main.n+b.tail.n)
	out = b.tail.appendTo(out, from)
	return b.main.appendTo(out, from)
}

// Sizes returns the capacities of the main and tail rings.
func (b *Buffer) Sizes() (size, tail int) { return len(b.main.items), len(b.tail.items) }

// RecordFailure keeps a module's failure message (registry.FailureRecorder).
func (b *Buffer) RecordFailure(module, message string) {
	b.mu.Lock()
	b.failed[module] = message
	b.mu.Unlock()
}

// FailedModules returns a copy of the failure messages by module.
func (b *Buffer) FailedModules() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.failed))
	for k, v := range b.failed {
		out[k] = v
	}
	return out
}

// Levels returns the hook's levels: everything at or above the buffer's minimum.
func (b *Buffer) Levels() []logrus.Level {
	var out []logrus.Level
	for _, l := range logrus.AllLevels {
		if l <= b.minLevel {
			out = append(out, l)
		}
	}
	return out
}

// Fire buffers a logrus entry (logrus.Hook).
func (b *Buffer) Fire(e *logrus.Entry) error {
	entry := Entry{
		Timestamp: float64(e.Time.UnixNano()) / float64(time.Second),
		Level:     levelName(e.Level),
		Message:   bounded(Escape(e.Message)),
	}
	if id, ok := e.Data["request"].(string); ok {
		entry.RequestID = id
	}
	if err, ok := e.Data[logrus.ErrorKey].(error); ok {
		entry.Backtrace = bounded(Escape(err.Error()))
	}
	b.Add(entry)
	return nil
}

// maxBufferedBytes bounds one buffered message: the ring holds thousands of entries,
// and a request line can carry a name of a megabyte.
const maxBufferedBytes = 4096

// bounded cuts s to maxBufferedBytes, on a rune boundary, saying how much was cut.
func bounded(s string) string {
	if len(s) <= maxBufferedBytes {
		return s
	}
	cut := maxBufferedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:cut], len(s)-cut)
}

// levelName maps logrus levels to the Ruby Logger's names.
func levelName(l logrus.Level) string {
	switch l {
	case logrus.TraceLevel, logrus.DebugLevel:
		return "DEBUG"
	case logrus.InfoLevel:
		return "INFO"
	case logrus.WarnLevel:
		return "WARN"
	case logrus.ErrorLevel:
		return "ERROR"
	case logrus.FatalLevel:
		return "FATAL"
	}
	return "UNKNOWN"
}
