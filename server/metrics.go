package server

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/smartproxy/smartproxy/internal/httplimit"
	"github.com/smartproxy/smartproxy/metrics"
)

// requestMetrics counts one listener's requests by status class and their latency.
type requestMetrics struct {
	listener string
	byClass  [6]atomic.Uint64 // index = status / 100
	latency  *metrics.Histogram
}

func newRequestMetrics(listener string) *requestMetrics {
	return &requestMetrics{listener: listener,
		latency: metrics.NewHistogram(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5, 30)}
}

func (m *requestMetrics) observe(status int, d time.Duration) {
	if c := status / 100; c >= 1 && c <= 5 {
		m.byClass[c].Add(1)
	}
	m.latency.Observe(d)
}

func (m *requestMetrics) write(w *metrics.Writer) {
	for c := 1; c <= 5; c++ {
		w.Counter("smartproxy_http_requests_total", "HTTP requests answered, by listener and status class.",
			float64(m.byClass[c].Load()), "listener", m.listener, "code", strconv.Itoa(c)+"xx")
	}
	w.Histogram("smartproxy_http_request_duration_seconds", "HTTP request latency by listener.", m.latency, "listener", m.listener)
}

// metricsPage is GET /metrics: both listeners' request metrics, every feature's state
// and the counters of running features.
func (s *Server) metricsPage(c echo.Context) error {
	c.Response().Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	w := metrics.NewWriter(c.Response())
	s.httpMetrics.write(w)
	s.httpsMetrics.write(w)
	httplimit.WriteMetrics(w, "smartproxy", s.gate, &s.refusals)
	s.opts.Registry.WriteMetrics(w)
	return nil
}
