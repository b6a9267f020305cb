// Package metrics holds the dispatcher's Prometheus metrics. They are
// registered on a registry the caller owns (no global state) and served at
// /metrics next to the REST API.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the dispatcher's counters and histograms. A nil *Metrics
// records nothing, so components can take it optionally.
type Metrics struct {
	reg *prometheus.Registry

	// APIRequests counts API requests by operation, transport and status.
	APIRequests *prometheus.CounterVec
	// APILatency observes API request durations by operation and transport.
	APILatency *prometheus.HistogramVec
	// TasksAdded counts accepted tasks by path (api, submit).
	TasksAdded *prometheus.CounterVec
	// TaskEvents counts applied worker events by type.
	TaskEvents *prometheus.CounterVec
	// TasksCompleted counts tasks that reached completed, by result.
	TasksCompleted *prometheus.CounterVec
	// TaskRetries counts retries scheduled after a non-zero exit.
	TaskRetries prometheus.Counter
}

// New creates the metrics on a fresh registry, with Go and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg: reg,
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "natch_api_requests_total",
			Help: "API requests by operation, transport (rest, nats) and HTTP status."}, []string{"op", "transport", "status"}),
		APILatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "natch_api_request_seconds",
			Help:    "API request durations by operation and transport.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"op", "transport"}),
		TasksAdded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "natch_tasks_added_total",
			Help: "Tasks accepted, by path (api: REST or NATS API; submit: the submit stream)."}, []string{"path"}),
		TaskEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "natch_task_events_total",
			Help: "Worker events applied to task state, by type."}, []string{"type"}),
		TasksCompleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "natch_tasks_completed_total",
			Help: "Tasks that reached the completed state, by result (success, failure)."}, []string{"result"}),
		TaskRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "natch_task_retries_total",
			Help: "Retries scheduled after a task exited with a non-zero code."}),
	}
	reg.MustRegister(m.APIRequests, m.APILatency, m.TasksAdded, m.TaskEvents, m.TasksCompleted, m.TaskRetries)
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Add adds n to a labelled counter; safe on a nil *Metrics.
func (m *Metrics) Add(c *prometheus.CounterVec, n int, labels ...string) {
	if m == nil || n == 0 {
		return
	}
	c.WithLabelValues(labels...).Add(float64(n))
}
