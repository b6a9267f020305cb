package dispatcher_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/natstest"
	"github.com/natch-io/natch/shared/topology"
)

// scrape GETs a /metrics URL and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sample is the value of the series of a family whose labels include
// labels; ok is false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, want := range labels {
			if have[k] != want {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestStateMetrics scrapes a dispatcher's /metrics while a pool fills and
// a job's tasks run: node, target and queue gauges per pool, task counts
// per open job, and a completed job's series gone.
func TestStateMetrics(t *testing.T) {
	t.Parallel()
	b := setupWith(t, dispatcher.Config{StateMetrics: metrics.StateConfig{CacheFor: time.Nanosecond}})
	url := b.url + "/metrics"
	code, body := b.do(t, "POST", "/pools", map[string]any{"id": "Pool1", "vmSize": "x", "targetDedicatedNodes": 2,
		"targetLowPriorityNodes": 1, "taskSlotsPerNode": 2})
	require.Equal(t, 201, code, string(body))
	b.putIdleNode(t, "pool1", "node1", 2)
	w := newFakeWorker(t, b, "pool1")
	for _, job := range []string{"job1", "job2"} {
		code, body = b.do(t, "POST", "/jobs", map[string]any{"id": job, "poolInfo": map[string]any{"poolId": "Pool1"}})
		require.Equal(t, 201, code, string(body))
	}
	for _, id := range []string{"a", "b", "c"} {
		b.addTask(t, "job1", map[string]any{"id": id, "commandLine": "true"})
	}

	pool := map[string]string{"account": account, "pool": "Pool1"}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for bk, bv := range base {
			out[bk] = bv
		}
		return out
	}
	job1 := map[string]string{"account": account, "job": "job1"}
	// want checks that every listed series has its value, now or soon.
	type want struct {
		name   string
		labels map[string]string
		value  float64
	}
	wait := func(what string, ws ...want) map[string]*dto.MetricFamily {
		t.Helper()
		var fams map[string]*dto.MetricFamily
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			fams = scrape(t, url)
			for _, w := range ws {
				v, ok := sample(fams, w.name, w.labels)
				require.True(c, ok, "%s %v missing", w.name, w.labels)
				require.Equal(c, w.value, v, "%s %v", w.name, w.labels)
			}
		}, 5*time.Second, 20*time.Millisecond, what)
		return fams
	}

	fams := wait("three tasks queued",
		want{"natch_pool_target_nodes", with(pool, "kind", "dedicated"), 2},
		want{"natch_pool_target_nodes", with(pool, "kind", "lowpriority"), 1},
		want{"natch_pool_autoscale", pool, 0},
		want{"natch_pool_nodes", with(pool, "state", "idle"), 1},
		want{"natch_pool_nodes", with(pool, "state", "running"), 0},
		want{"natch_pool_nodes", with(pool, "state", "starttaskfailed"), 0},
		want{"natch_pool_queued_tasks", pool, 3},
		want{"natch_pool_inflight_tasks", pool, 0},
		want{"natch_job_tasks", with(job1, "state", "active"), 3},
		want{"natch_job_tasks", with(job1, "state", "running"), 0},
		want{"natch_job_tasks", map[string]string{"job": "job2", "state": "active"}, 0},
	)
	_, ok := sample(fams, "natch_pool_current_nodes", with(pool, "kind", "dedicated"))
	require.True(t, ok)
	v, ok := sample(fams, "natch_state_scrape_errors_total", nil)
	require.True(t, ok)
	require.Zero(t, v)
	_, ok = sample(fams, "natch_api_requests_total", map[string]string{"op": "pool.add"})
	require.True(t, ok, "the counters are served next to the gauges")

	// A node takes two tasks: one runs and succeeds, one fails.
	msgs := w.next(2, 5*time.Second)
	require.Len(t, msgs, 2)
	w.report(msgs[0], nil)
	wait("one running, two held by the node",
		want{"natch_pool_queued_tasks", pool, 1},
		want{"natch_pool_inflight_tasks", pool, 2},
		want{"natch_job_tasks", with(job1, "state", "running"), 1},
		want{"natch_job_tasks", with(job1, "state", "active"), 2},
	)
	w.report(msgs[0], exit(0))
	w.report(msgs[1], exit(1))
	wait("two completed",
		want{"natch_pool_queued_tasks", pool, 1},
		want{"natch_pool_inflight_tasks", pool, 0},
		want{"natch_job_tasks", with(job1, "state", "completed"), 2},
		want{"natch_job_tasks", with(job1, "state", "active"), 1},
		want{"natch_job_tasks_result", with(job1, "result", "succeeded"), 1},
		want{"natch_job_tasks_result", with(job1, "result", "failed"), 1},
	)

	// A completed job leaves the gauges; the others stay.
	code, body = b.do(t, "POST", "/jobs/job1/terminate", nil)
	require.Equal(t, 202, code, string(body))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		fams = scrape(t, url)
		_, ok := sample(fams, "natch_job_tasks", job1)
		require.False(c, ok, "job1 completed")
		_, ok = sample(fams, "natch_job_tasks_result", job1)
		require.False(c, ok, "job1 completed")
	}, 5*time.Second, 20*time.Millisecond)
	_, ok = sample(fams, "natch_job_tasks", map[string]string{"job": "job2"})
	require.True(t, ok, "job2 is still active")
}

// TestStateMetricsCacheAndErrors: a reading answers scrapes for CacheFor;
// when JetStream is gone a scrape still serves the counters, counts the
// failed reading and leaves the state gauges out.
func TestStateMetricsCacheAndErrors(t *testing.T) {
	t.Parallel()
	srv := natstest.Server(t)
	nc, js := natstest.Connect(t, srv)
	ctx := t.Context()
	m := metrics.New()
	d := dispatcher.New(nc, js, dispatcher.Config{Metrics: metrics.New(), Topology: topology.Options{Memory: true}})
	svc, err := d.Prepare(ctx)
	require.NoError(t, err)
	_, err = svc.EnsureAccount(ctx, account, func() string { return "a2V5" })
	require.NoError(t, err)
	// The reader is the real service; this registry caches for a minute.
	require.NoError(t, m.WatchState(svc, metrics.StateConfig{CacheFor: time.Minute, Timeout: 300 * time.Millisecond}))
	hs := httptest.NewServer(m.Handler())
	t.Cleanup(hs.Close)
	m2 := metrics.New()
	require.NoError(t, m2.WatchState(svc, metrics.StateConfig{CacheFor: time.Nanosecond, Timeout: 300 * time.Millisecond}))
	hs2 := httptest.NewServer(m2.Handler())
	t.Cleanup(hs2.Close)

	_, ok := sample(scrape(t, hs.URL), "natch_pool_queued_tasks", nil)
	require.False(t, ok, "no pools yet")
	_, err = svc.AddPool(ctx, account, &batch.Pool{ID: "p1", VMSize: "x", TargetDedicatedNodes: new(3)})
	require.NoError(t, err)
	_, ok = sample(scrape(t, hs.URL), "natch_pool_target_nodes", nil)
	require.False(t, ok, "the cached reading answers")
	v, ok := sample(scrape(t, hs2.URL), "natch_pool_target_nodes", map[string]string{"pool": "p1", "kind": "dedicated"})
	require.True(t, ok, "a fresh reading sees the pool")
	require.Equal(t, 3.0, v)

	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	fams := scrape(t, hs2.URL)
	require.Less(t, time.Since(start), 3*time.Second, "a reading is capped by its timeout")
	v, ok = sample(fams, "natch_state_scrape_errors_total", nil)
	require.True(t, ok)
	require.Equal(t, 1.0, v)
	_, ok = sample(fams, "natch_pool_target_nodes", nil)
	require.False(t, ok, "no state gauges from a failed reading")
	_, ok = sample(fams, "go_goroutines", nil)
	require.True(t, ok, "the other metrics are still served")
}
