package registry

import "github.com/smartproxy/smartproxy/metrics"

// WriteMetrics reports each feature's state and the metrics of running features and
// their providers.
func (r *Registry) WriteMetrics(w *metrics.Writer) {
	for _, g := range r.groups {
		state := g.State()
		for _, s := range []State{Running, Disabled, Failed, Starting, Uninitialized} {
			v := 0.0
			if s == state {
				v = 1
			}
			w.Gauge("smartproxy_feature_state", "1 for the feature's current lifecycle state.", v,
				"feature", g.feature.Name(), "state", string(s))
		}
	}
	for _, g := range r.groups {
		if g.State() != Running {
			continue
		}
		for _, m := range append([]Module{g.feature}, g.providers...) {
			if mr, ok := m.(MetricsReporter); ok {
				mr.WriteMetrics(w)
			}
		}
	}
}
