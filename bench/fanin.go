package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// targetFanInRatio is the fan-in benchmark's target: the 1,000 → 1 fan-in
// runs at ≥ 0.9 × the speed of the same tasks without dependencies.
const targetFanInRatio = 0.9

// fanInRun is one job of the fan-in benchmark.
type fanInRun struct {
	Deps    bool    `json:"dependencies"`
	Tasks   int     `json:"tasks"`
	Seconds float64 `json:"seconds"`
}

// fanInResult is the fan-in benchmark's outcome.
type fanInResult struct {
	Runs []fanInRun `json:"runs"`
	// PlainSeconds and DepsSeconds are the means of each kind.
	PlainSeconds float64 `json:"plainSeconds"`
	DepsSeconds  float64 `json:"depsSeconds"`
	// Ratio is PlainSeconds / DepsSeconds: the speed of the fan-in relative
	// to the same number of tasks without dependencies (target ≥ 0.9).
	Ratio float64 `json:"ratio"`
}

// runFanIn times, in one natch up with one node of two slots, a job of
// o.fanIn+1 `true` tasks without dependencies and a job of o.fanIn `true`
// tasks plus a merge task that depends on all of them (one taskIdRanges
// entry), alternately (plain, fan-in, plain, fan-in, … o.fanInRounds
// pairs), each from its first add to taskcounts saying all completed.
func runFanIn(ctx context.Context, o options, p *printer) (res *fanInResult, err error) {
	in, err := startNatch(ctx, o.natch, o.workDir, "fanin")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, in.stop()) }()
	c, err := newClient(in.conn, o.addConcurrency+2)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const pool = "fanin-pool"
	if err := c.createPool(ctx, pool, 1, throughputSlots); err != nil {
		return nil, err
	}
	if err := c.waitIdle(ctx, pool, 1, 60*time.Second); err != nil {
		return nil, err
	}
	res = &fanInResult{}
	for round := range o.fanInRounds {
		for _, deps := range []bool{false, true} {
			job := "plain-" + strconv.Itoa(round)
			if deps {
				job = "fanin-" + strconv.Itoa(round)
			}
			r, err := fanInJob(ctx, o, c, pool, job, deps)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", job, err)
			}
			p.logf("fan-in: %s, %d tasks in %.2fs", job, r.Tasks, r.Seconds)
			res.Runs = append(res.Runs, r)
		}
	}
	var np, nd float64
	for _, r := range res.Runs {
		if r.Deps {
			res.DepsSeconds += r.Seconds
			nd++
		} else {
			res.PlainSeconds += r.Seconds
			np++
		}
	}
	res.PlainSeconds /= np
	res.DepsSeconds /= nd
	res.Ratio = res.PlainSeconds / res.DepsSeconds
	return res, nil
}

// fanInJob adds one job's tasks and waits until all completed.
func fanInJob(ctx context.Context, o options, c *client, pool, job string, deps bool) (fanInRun, error) {
	run := fanInRun{Deps: deps, Tasks: o.fanIn + 1}
	if err := c.call(ctx, http.MethodPost, "/jobs", map[string]any{
		"id": job, "poolInfo": map[string]string{"poolId": pool}, "usesTaskDependencies": deps,
	}, http.StatusCreated, nil); err != nil {
		return run, err
	}
	type task struct {
		ID          string `json:"id"`
		CommandLine string `json:"commandLine"`
		DependsOn   any    `json:"dependsOn,omitempty"`
	}
	var tasks []task
	for i := range o.fanIn {
		tasks = append(tasks, task{ID: strconv.Itoa(i), CommandLine: "true"})
	}
	merge := task{ID: "merge", CommandLine: "true"}
	if deps {
		merge.DependsOn = map[string]any{"taskIdRanges": []map[string]int{{"start": 0, "end": o.fanIn - 1}}}
	}
	// The merge task goes first: it must wait, not find its parents done.
	tasks = append([]task{merge}, tasks...)
	var bodies [][]byte
	for start := 0; start < len(tasks); start += 100 {
		b, err := json.Marshal(map[string]any{"value": tasks[start:min(start+100, len(tasks))]})
		if err != nil {
			return run, err
		}
		bodies = append(bodies, b)
	}
	start := time.Now()
	if _, err := addAll(ctx, c, job, bodies, o.addConcurrency); err != nil {
		return run, err
	}
	for {
		counts, err := c.counts(ctx, job)
		if err != nil {
			return run, err
		}
		if counts.Completed >= run.Tasks {
			if counts.Succeeded != run.Tasks {
				return run, fmt.Errorf("%d of %d tasks failed", run.Tasks-counts.Succeeded, run.Tasks)
			}
			break
		}
		if time.Since(start) > o.timeout {
			return run, fmt.Errorf("not done after %v: counts %+v", o.timeout, counts)
		}
		if err := sleep(ctx, o.poll); err != nil {
			return run, err
		}
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}
