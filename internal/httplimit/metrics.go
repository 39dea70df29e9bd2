package httplimit

import (
	"sync/atomic"

	"github.com/smartproxy/smartproxy/metrics"
)

// Refusals counts requests refused for their body, by reason.
type Refusals struct {
	tooLarge, tooManyFields, timeout atomic.Uint64
}

// Count records e (nil is not counted).
func (c *Refusals) Count(e *Error) {
	if e == nil {
		return
	}
	switch e.Reason {
	case ReasonTooLarge:
		c.tooLarge.Add(1)
	case ReasonTooManyFields:
		c.tooManyFields.Add(1)
	case ReasonTimeout:
		c.timeout.Add(1)
	}
}

// WriteMetrics writes the gate's connection counts and the body refusals; prefix
// names the process ("smartproxy").
func WriteMetrics(w *metrics.Writer, prefix string, g *Gate, c *Refusals) {
	if g != nil {
		w.Gauge(prefix+"_http_connections_open", "HTTP connections open, over all listeners.", float64(g.Open()))
		w.Gauge(prefix+"_http_connections_max", "The max_connections cap in force.", float64(g.max))
		total, perClient := g.Refused()
		help := "HTTP connections closed on accept, by the cap that was full."
		w.Counter(prefix+"_http_connections_refused_total", help, float64(total), "reason", "max_connections")
		w.Counter(prefix+"_http_connections_refused_total", help, float64(perClient), "reason", "max_connections_per_client")
	}
	if c != nil {
		help := "HTTP requests refused for their body, by reason."
		w.Counter(prefix+"_http_requests_refused_total", help, float64(c.tooLarge.Load()), "reason", ReasonTooLarge)
		w.Counter(prefix+"_http_requests_refused_total", help, float64(c.tooManyFields.Load()), "reason", ReasonTooManyFields)
		w.Counter(prefix+"_http_requests_refused_total", help, float64(c.timeout.Load()), "reason", ReasonTimeout)
	}
}
