package metrics

import (
	"cmp"
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StateReader reads what the state gauges show, from JetStream, at scrape
// time. The dispatcher's service implements it.
type StateReader interface {
	// ReadState returns every account's pools and its jobs that are not
	// completed. It must return by ctx's deadline.
	ReadState(ctx context.Context) (*State, error)
}

// State is a snapshot of natch's state for the gauges.
type State struct {
	Pools []PoolState
	// Jobs are the jobs that are not completed; completed jobs are left
	// out so that the gauges' label sets stay bounded.
	Jobs []JobState
}

// PoolState is one pool: its nodes, targets and queue.
type PoolState struct {
	Account, Pool string
	// Nodes counts the pool's nodes by node state (idle, running, …); the
	// reader sets every state it knows, zero included.
	Nodes map[string]int
	// TargetDedicated, TargetLowPriority, CurrentDedicated and
	// CurrentLowPriority are the pool's node counts as the API reports them.
	TargetDedicated, TargetLowPriority   int
	CurrentDedicated, CurrentLowPriority int
	// AutoScale says that the pool's size follows a formula.
	AutoScale bool
	// Queued are the tasks waiting in the pool's work queue (the pool
	// consumer's NumPending); InFlight are those a node holds and has not
	// acknowledged (NumAckPending).
	Queued, InFlight uint64
}

// JobState is one job's task counts (the counts bucket).
type JobState struct {
	Account, Job               string
	Active, Running, Completed int
	Succeeded, Failed          int
}

// StateConfig tunes the state gauges.
type StateConfig struct {
	// CacheFor is how long one reading of the state answers scrapes, so
	// that several Prometheus servers cost one reading. Defaults to 5s.
	CacheFor time.Duration
	// Timeout caps the time one reading may take. Defaults to 5s.
	Timeout time.Duration
	// Logger logs failed readings. Defaults to discard.
	Logger *slog.Logger
}

func (c StateConfig) withDefaults() StateConfig {
	c.CacheFor = cmp.Or(c.CacheFor, 5*time.Second)
	c.Timeout = cmp.Or(c.Timeout, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// stateCollector computes the state gauges at scrape time.
type stateCollector struct {
	r        StateReader
	cfg      StateConfig
	d        stateDescs
	errors   prometheus.Counter
	duration prometheus.Gauge

	mu   sync.Mutex // held while reading: concurrent scrapes share a reading
	last *State     // nil after a failed reading
	at   time.Time  // when last was read (or the reading failed)
}

// WatchState registers the state gauges, read through r at scrape time
// (cached for cfg.CacheFor, each reading capped at cfg.Timeout). A reading
// that fails counts in natch_state_scrape_errors_total and leaves the state
// gauges out of that scrape; the other metrics are served as usual. It
// returns prometheus.AlreadyRegisteredError when called twice.
func (m *Metrics) WatchState(r StateReader, cfg StateConfig) error {
	c := &stateCollector{r: r, cfg: cfg.withDefaults(), d: newStateDescs(),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "natch_state_scrape_errors_total",
			Help: "Readings of natch's state for the state gauges (natch_pool_*, natch_job_*) that failed or timed out."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "natch_state_scrape_duration_seconds",
			Help: "How long the last reading of natch's state for the state gauges took."}),
	}
	return m.reg.Register(c)
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, desc := range []*prometheus.Desc{d.poolNodes, d.poolTarget, d.poolCurrent, d.poolAutoScale,
		d.poolQueued, d.poolInFlight, d.jobTasks, d.jobResults} {
		ch <- desc
	}
	c.errors.Describe(ch)
	c.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if st := c.read(); st != nil {
		c.d.emit(ch, st)
	}
	c.errors.Collect(ch)
	c.duration.Collect(ch)
}

// read returns the cached state, or reads it when the cache is stale; nil
// when the reading failed (a failure is cached too, so a NATS outage costs
// one timed-out reading per CacheFor, not one per scrape).
func (c *stateCollector) read() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.cfg.CacheFor {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	st, err := c.r.ReadState(ctx)
	c.duration.Set(time.Since(start).Seconds())
	c.at = time.Now()
	if err != nil {
		c.errors.Inc()
		c.cfg.Logger.WarnContext(ctx, "read state for metrics", "err", err)
		c.last = nil
		return nil
	}
	c.last = st
	return st
}

// emit sends the gauges of st.
func (d stateDescs) emit(ch chan<- prometheus.Metric, st *State) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range st.Pools {
		states := make([]string, 0, len(p.Nodes))
		for s := range p.Nodes {
			states = append(states, s)
		}
		sort.Strings(states)
		for _, s := range states {
			gauge(d.poolNodes, float64(p.Nodes[s]), p.Account, p.Pool, s)
		}
		gauge(d.poolTarget, float64(p.TargetDedicated), p.Account, p.Pool, "dedicated")
		gauge(d.poolTarget, float64(p.TargetLowPriority), p.Account, p.Pool, "lowpriority")
		gauge(d.poolCurrent, float64(p.CurrentDedicated), p.Account, p.Pool, "dedicated")
		gauge(d.poolCurrent, float64(p.CurrentLowPriority), p.Account, p.Pool, "lowpriority")
		gauge(d.poolAutoScale, b2f(p.AutoScale), p.Account, p.Pool)
		gauge(d.poolQueued, float64(p.Queued), p.Account, p.Pool)
		gauge(d.poolInFlight, float64(p.InFlight), p.Account, p.Pool)
	}
	for _, j := range st.Jobs {
		gauge(d.jobTasks, float64(j.Active), j.Account, j.Job, "active")
		gauge(d.jobTasks, float64(j.Running), j.Account, j.Job, "running")
		gauge(d.jobTasks, float64(j.Completed), j.Account, j.Job, "completed")
		gauge(d.jobResults, float64(j.Succeeded), j.Account, j.Job, "succeeded")
		gauge(d.jobResults, float64(j.Failed), j.Account, j.Job, "failed")
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateDescs describe the state gauges. Their names are part of natch's
// interface (the dashboard and alerts in deployments/ use them): never
// rename them.
type stateDescs struct {
	poolNodes, poolTarget, poolCurrent, poolAutoScale *prometheus.Desc
	poolQueued, poolInFlight                          *prometheus.Desc
	jobTasks, jobResults                              *prometheus.Desc
}

func newStateDescs() stateDescs {
	pool := []string{"account", "pool"}
	return stateDescs{
		poolNodes: prometheus.NewDesc("natch_pool_nodes",
			"Compute nodes of a pool by node state (every state natch records, zeros included).",
			[]string{"account", "pool", "state"}, nil),
		poolTarget: prometheus.NewDesc("natch_pool_target_nodes",
			"A pool's target node count by kind (dedicated, lowpriority).",
			[]string{"account", "pool", "kind"}, nil),
		poolCurrent: prometheus.NewDesc("natch_pool_current_nodes",
			"A pool's current node count by kind (dedicated, lowpriority).",
			[]string{"account", "pool", "kind"}, nil),
		poolAutoScale: prometheus.NewDesc("natch_pool_autoscale",
			"1 when a pool's size follows an autoscale formula, else 0.", pool, nil),
		poolQueued: prometheus.NewDesc("natch_pool_queued_tasks",
			"Tasks waiting in a pool's work queue for a node (the pool consumer's pending messages).", pool, nil),
		poolInFlight: prometheus.NewDesc("natch_pool_inflight_tasks",
			"Tasks a pool's nodes hold and have not acknowledged yet (the pool consumer's ack-pending messages).", pool, nil),
		jobTasks: prometheus.NewDesc("natch_job_tasks",
			"Tasks of a job by state (active, running, completed). Only jobs that are not completed, to bound the series.",
			[]string{"account", "job", "state"}, nil),
		jobResults: prometheus.NewDesc("natch_job_tasks_result",
			"Completed tasks of a job by result (succeeded, failed). Only jobs that are not completed, to bound the series.",
			[]string{"account", "job", "result"}, nil),
	}
}
