package deployments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/dispatchertest"
	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker"
)

const account = "natch"

// served runs a dispatcher and a worker on an embedded server, puts a pool,
// a job and tasks through them (one succeeds, one fails after a retry) so
// that every metric has a sample, and returns the families of a scrape of
// /metrics, once the state gauges show the job's results.
func served(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	r := dispatchertest.Start(t, account, dispatcher.Config{
		Topology:     topology.Options{Memory: true, AckWait: 2 * time.Second},
		StateMetrics: metrics.StateConfig{CacheFor: time.Nanosecond}})
	nc, js, base, key := r.NC, r.JS, r.URL, dispatchertest.Key

	do := func(method, path string, body any) {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(method, base+path+"?api-version=2022-10-01.16.0", bytes.NewReader(raw))
		require.NoError(t, err)
		auth.Sign(req, account, key, int64(len(raw)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, out)
	}
	do("POST", "/pools", map[string]any{"id": "pool1", "vmSize": "x", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2})
	w, err := worker.New(nc, js, worker.Config{Account: account, PoolID: "pool1", NodeID: "node1",
		RootDir: filepath.Join(t.TempDir(), "node"), Heartbeat: 100 * time.Millisecond, ShutdownGrace: time.Second,
		NoLogCopies: true})
	require.NoError(t, err)
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	t.Cleanup(func() { wcancel(); <-wdone }) // before the dispatcher and the server stop
	do("POST", "/jobs", map[string]any{"id": "job1", "poolInfo": map[string]any{"poolId": "pool1"}})
	do("POST", "/jobs/job1/addtaskcollection", map[string]any{"value": []map[string]any{
		{"id": "ok", "commandLine": "true"},
		{"id": "bad", "commandLine": "false", "constraints": map[string]any{"maxTaskRetryCount": 1}},
	}})

	var fams map[string]*dto.MetricFamily
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/metrics")
		require.NoError(c, err)
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err = p.TextToMetricFamilies(resp.Body)
		require.NoError(c, err)
		f := fams["natch_job_tasks_result"]
		require.NotNil(c, f)
		for _, m := range f.GetMetric() {
			require.Equal(c, 1.0, m.GetGauge().GetValue(), "one succeeded, one failed")
		}
		require.NotNil(c, fams["natch_task_retries_total"])
		require.NotNil(c, fams["natch_tasks_completed_total"])
	}, 10*time.Second, 50*time.Millisecond)
	return fams
}

// family is the metric family a sample name of a PromQL expression belongs
// to: histograms and summaries are exposed as _bucket, _sum and _count.
func family(fams map[string]*dto.MetricFamily, name string) (string, bool) {
	if _, ok := fams[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f := fams[base]; ok && f != nil &&
			(f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
			return base, true
		}
	}
	return "", false
}

// dashboardExprs returns every expr of the Grafana dashboard's panels and
// the queries of its variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "natch.json"))
	require.NoError(t, err)
	var d struct {
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.Title)
	var exprs []string
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			hasDS = true
			require.JSONEq(t, `"prometheus"`, string(v.Query), "the datasource variable picks a Prometheus")
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q), "variable %s", v.Name)
		exprs = append(exprs, q.Query)
	}
	require.True(t, hasDS, "a datasource variable")
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotNil(t, p.Datasource, "panel %q", p.Title)
		require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q uses the datasource variable", p.Title)
		require.NotEmpty(t, p.Targets, "panel %q", p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q", p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// alertExprs returns the expressions of prometheus/natch-alerts.yml, after
// checking prometheus.yml loads it and scrapes the dispatchers.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	require.NoError(t, err)
	type scrapeConfig struct {
		JobName     string `yaml:"job_name"`
		MetricsPath string `yaml:"metrics_path"`
	}
	var cfg struct {
		RuleFiles     []string       `yaml:"rule_files"`
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	require.Equal(t, []string{"natch-alerts.yml"}, cfg.RuleFiles)
	require.True(t, slices.ContainsFunc(cfg.ScrapeConfigs, func(s scrapeConfig) bool {
		return s.JobName == "natch-dispatcher" && s.MetricsPath == "/metrics"
	}), "a natch-dispatcher job")

	b, err = os.ReadFile(filepath.Join("prometheus", "natch-alerts.yml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rules))
	var exprs, alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			require.NotEmpty(t, r.Expr, r.Alert)
			_, err := model.ParseDuration(r.For)
			require.NoError(t, err, "%s: for", r.Alert)
			require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			exprs, alerts = append(exprs, r.Expr), append(alerts, r.Alert)
		}
	}
	require.Subset(t, alerts, []string{"NatchDispatcherDown", "NatchTaskFailureRatioHigh",
		"NatchTasksQueuedWithoutNodes", "NatchStateScrapeErrors"})
	return exprs
}

// TestMetricNames checks the dashboard, the alert rules and the docs
// against the metrics a real dispatcher serves: every metric they name
// exists, and every natch metric is on the dashboard and in the docs.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	fams := served(t)
	for _, name := range []string{"natch_pool_nodes", "natch_pool_target_nodes", "natch_pool_current_nodes",
		"natch_pool_autoscale", "natch_pool_queued_tasks", "natch_pool_inflight_tasks", "natch_job_tasks",
		"natch_state_scrape_errors_total", "natch_api_request_seconds", "natch_tasks_completed_total"} {
		require.Contains(t, fams, name)
	}

	// The natch_, go_ and process_ metric names in PromQL.
	metricName := regexp.MustCompile(`\b(?:natch|go|process)_[a-zA-Z0-9_]+\b`)
	onDashboard := map[string]bool{}
	for _, src := range []struct {
		name  string
		exprs []string
	}{{"grafana/natch.json", dashboardExprs(t)}, {"prometheus/natch-alerts.yml", alertExprs(t)}} {
		for _, e := range src.exprs {
			for _, name := range metricName.FindAllString(e, -1) {
				f, ok := family(fams, name)
				require.True(t, ok, "%s uses %s, which a dispatcher does not serve (in %q)", src.name, name, e)
				if src.name == "grafana/natch.json" {
					onDashboard[f] = true
				}
			}
		}
	}

	docs, err := os.ReadFile(filepath.Join("..", "docs", "deployment.md"))
	require.NoError(t, err)
	for name := range fams {
		if !strings.HasPrefix(name, "natch_") {
			continue
		}
		require.True(t, onDashboard[name], "%s is not on the dashboard", name)
		require.True(t, strings.Contains(string(docs), "`"+name+"`"), "docs/deployment.md does not list %s", name)
	}
}
