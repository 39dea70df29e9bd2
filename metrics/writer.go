// Package metrics writes the Prometheus text exposition format for GET /metrics. It
// is deliberately tiny: features keep their own atomic counters and report them here
// when scraped, so the hot paths pay nothing for metrics they already count.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Writer writes metric families; HELP and TYPE lines are written once per name.
type Writer struct {
	w    io.Writer
	seen map[string]bool
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, seen: map[string]bool{}} }

// Counter writes a monotonically increasing value. labels are name, value pairs.
func (w *Writer) Counter(name, help string, value float64, labels ...string) {
	w.sample(name, "counter", help, value, labels)
}

// Gauge writes a value that can go up and down.
func (w *Writer) Gauge(name, help string, value float64, labels ...string) {
	w.sample(name, "gauge", help, value, labels)
}

func (w *Writer) header(name, kind, help string) {
	if w.seen[name] {
		return
	}
	w.seen[name] = true
	fmt.Fprintf(w.w, "# HELP %s %s\n# TYPE %s %s\n", name, strings.ReplaceAll(help, "\n", " "), name, kind)
}

func (w *Writer) sample(name, kind, help string, value float64, labels []string) {
	w.header(name, kind, help)
	fmt.Fprintf(w.w, "%s%s %s\n", name, formatLabels(labels), formatValue(value))
}

func formatLabels(labels []string) string {
	if len(labels) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(escape(labels[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escape(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Histogram counts observations into fixed buckets (seconds). Safe for concurrent use.
type Histogram struct {
	mu      sync.Mutex
	bounds  []float64
	buckets []uint64
	count   uint64
	sum     float64
}

// NewHistogram makes a histogram with the given upper bounds, sorted ascending.
func NewHistogram(bounds ...float64) *Histogram {
	b := append([]float64(nil), bounds...)
	sort.Float64s(b)
	return &Histogram{bounds: b, buckets: make([]uint64, len(b))}
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	v := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	if i < len(h.buckets) {
		h.buckets[i]++
	}
	h.count++
	h.sum += v
	h.mu.Unlock()
}

// Write writes the histogram as name_bucket, name_sum and name_count.
func (w *Writer) Histogram(name, help string, h *Histogram, labels ...string) {
	w.header(name, "histogram", help)
	h.mu.Lock()
	buckets := append([]uint64(nil), h.buckets...)
	count, sum := h.count, h.sum
	h.mu.Unlock()
	var cumulative uint64
	for i, bound := range h.bounds {
		cumulative += buckets[i]
		fmt.Fprintf(w.w, "%s_bucket%s %d\n", name, formatLabels(append(append([]string(nil), labels...), "le", formatValue(bound))), cumulative)
	}
	fmt.Fprintf(w.w, "%s_bucket%s %d\n", name, formatLabels(append(append([]string(nil), labels...), "le", "+Inf")), count)
	fmt.Fprintf(w.w, "%s_sum%s %s\n", name, formatLabels(labels), formatValue(sum))
	fmt.Fprintf(w.w, "%s_count%s %d\n", name, formatLabels(labels), count)
}
