package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"
)

// latencyWarmup is how many tasks run before the measured ones, to open
// connections and warm the code paths; they are not counted.
const latencyWarmup = 5

// dist summarises a sample of durations, in milliseconds.
type dist struct {
	N   int     `json:"n"`
	Min float64 `json:"minMs"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// newDist summarises ds (nearest-rank percentiles).
func newDist(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return dist{N: len(s), Min: ms(s[0]), P50: ms(rank(50)), P90: ms(rank(90)), P99: ms(rank(99)), Max: ms(s[len(s)-1])}
}

// latencyResult is the latency benchmark's outcome.
type latencyResult struct {
	// Start is executionInfo.startTime − the time POST …/tasks returned:
	// how long after the client was told "created" the process started.
	Start dist `json:"startAfterAdd"`
	// StartSent is executionInfo.startTime − the time POST …/tasks was sent.
	StartSent dist `json:"startAfterAddSent"`
	// Add is the POST …/tasks round trip.
	Add dist `json:"addCall"`
	// Completed is from sending POST …/tasks to the first GET that saw the
	// task completed, as the client observes it (poll granularity included).
	Completed dist `json:"addToCompleted"`
	// Poll is the interval between the client's GETs of the task.
	PollMs float64 `json:"pollMs"`
}

// runLatency adds one `true` task at a time to an idle pool of one node
// with two slots, and times each from the add to its start and completion.
func runLatency(ctx context.Context, o options, p *printer) (res *latencyResult, err error) {
	in, err := startNatch(ctx, o.natch, o.workDir, "latency")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, in.stop()) }()
	c, err := newClient(in.conn, 4)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const pool, job = "lat-pool", "lat-job"
	if err := c.createPool(ctx, pool, 1, 2); err != nil {
		return nil, err
	}
	if err := c.waitIdle(ctx, pool, 1, 60*time.Second); err != nil {
		return nil, err
	}
	if err := c.createJob(ctx, job, pool); err != nil {
		return nil, err
	}
	p.logf("latency: %d tasks one at a time (after %d warm-up), polling every %v …", o.latencyN, latencyWarmup, o.latencyPoll)
	var starts, startsSent, adds, dones []time.Duration
	for i := range latencyWarmup + o.latencyN {
		start, add, done, err := latencyOnce(ctx, c, job, fmt.Sprintf("l-%d", i), o.latencyPoll)
		if err != nil {
			return nil, err
		}
		if i < latencyWarmup {
			continue
		}
		starts, startsSent = append(starts, start), append(startsSent, start+add)
		adds, dones = append(adds, add), append(dones, done)
	}
	res = &latencyResult{Start: newDist(starts), StartSent: newDist(startsSent), Add: newDist(adds), Completed: newDist(dones),
		PollMs: float64(o.latencyPoll.Microseconds()) / 1000}
	p.logf("latency: start after add p50 %.2f ms, p99 %.2f ms; add→completed p50 %.2f ms",
		res.Start.P50, res.Start.P99, res.Completed.P50)
	return res, nil
}

// latencyOnce adds one task and waits for it to complete. It returns
// startTime − add returned, the add call's duration, and add sent → seen
// completed.
func latencyOnce(ctx context.Context, c *client, job, id string, poll time.Duration) (start, add, done time.Duration, err error) {
	body := map[string]string{"id": id, "commandLine": "true"}
	sent := time.Now()
	if err := c.call(ctx, http.MethodPost, "/jobs/"+job+"/tasks", body, http.StatusCreated, nil); err != nil {
		return 0, 0, 0, err
	}
	returned := time.Now()
	deadline := returned.Add(30 * time.Second)
	for {
		var t cloudTask
		if err := c.call(ctx, http.MethodGet, "/jobs/"+job+"/tasks/"+id, nil, http.StatusOK, &t); err != nil {
			return 0, 0, 0, err
		}
		if t.State == "completed" {
			seen := time.Now()
			ei := t.ExecutionInfo
			if ei == nil || ei.StartTime == nil {
				return 0, 0, 0, fmt.Errorf("task %s completed without executionInfo.startTime", id)
			}
			if ei.ExitCode == nil || *ei.ExitCode != 0 {
				return 0, 0, 0, fmt.Errorf("task %s failed: %+v", id, *ei)
			}
			return ei.StartTime.Sub(returned), returned.Sub(sent), seen.Sub(sent), nil
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("task %s not completed after 30s (state %s)", id, t.State)
		}
		if err := sleep(ctx, poll); err != nil {
			return 0, 0, 0, err
		}
	}
}
