package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// submitRun is one submit-rate measurement at one concurrency.
type submitRun struct {
	Concurrency int     `json:"concurrency"`
	Tasks       int     `json:"tasks"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"tasksPerSecond"`
	CPU         cpuUse  `json:"cpu"`
}

// submitResult is the submit benchmark's outcome.
type submitResult struct {
	Runs []submitRun `json:"runs"`
	// Best is the run with the highest rate.
	Best submitRun `json:"best"`
}

// runSubmit measures how fast addtaskcollection accepts tasks when nothing
// runs them: for each concurrency, a fresh natch, a pool with no nodes, a
// job, and o.submitTasks tasks in collections of 100, timed from the first
// request sent to the last answer received.
func runSubmit(ctx context.Context, o options, p *printer) (*submitResult, error) {
	res := &submitResult{}
	for _, conc := range o.submitConcurrency {
		r, err := submitOnce(ctx, o, conc, p)
		if err != nil {
			return nil, fmt.Errorf("concurrency %d: %w", conc, err)
		}
		res.Runs = append(res.Runs, r)
		if r.Rate > res.Best.Rate {
			res.Best = r
		}
	}
	return res, nil
}

func submitOnce(ctx context.Context, o options, conc int, p *printer) (run submitRun, err error) {
	in, err := startNatch(ctx, o.natch, o.workDir, "submit")
	if err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, in.stop()) }()
	c, err := newClient(in.conn, conc+2)
	if err != nil {
		return run, err
	}
	defer c.close()
	const pool, job = "sub-pool", "sub-job"
	if err := c.createPool(ctx, pool, 0, 1); err != nil {
		return run, err
	}
	if err := c.createJob(ctx, job, pool); err != nil {
		return run, err
	}
	bodies, err := collections("s", "true", o.submitTasks)
	if err != nil {
		return run, err
	}
	// Warm up the connections and the service's code paths with a
	// separate job, outside the clock.
	if err := c.createJob(ctx, "warm-job", pool); err != nil {
		return run, err
	}
	warm, err := collections("w", "true", 100*conc)
	if err != nil {
		return run, err
	}
	if _, err := addAll(ctx, c, "warm-job", warm, conc); err != nil {
		return run, fmt.Errorf("warm-up: %w", err)
	}

	p.logf("submit: %d tasks, %d requests in flight …", o.submitTasks, conc)
	meter := newCPUMeter(in.pid(), nil)
	start := time.Now()
	n, err := addAll(ctx, c, job, bodies, conc)
	d := time.Since(start)
	cpu := meter.since()
	if err != nil {
		return run, err
	}
	if n != o.submitTasks {
		return run, fmt.Errorf("accepted %d tasks of %d", n, o.submitTasks)
	}
	counts, err := c.counts(ctx, job)
	if err != nil {
		return run, err
	}
	// Counts are flushed every 50 ms: wait for them to settle, then check
	// that every accepted task is there and none ran.
	deadline := time.Now().Add(10 * time.Second)
	for counts.Active != n && time.Now().Before(deadline) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return run, err
		}
		if counts, err = c.counts(ctx, job); err != nil {
			return run, err
		}
	}
	if counts.Active != n || counts.Running != 0 || counts.Completed != 0 {
		return run, fmt.Errorf("after adding %d tasks the counts are %+v", n, counts)
	}
	run = submitRun{Concurrency: conc, Tasks: n, Seconds: d.Seconds(), Rate: float64(n) / d.Seconds(), CPU: cpu}
	p.logf("submit: %.0f tasks/s at %d in flight (%.2fs)", run.Rate, conc, run.Seconds)
	return run, nil
}
