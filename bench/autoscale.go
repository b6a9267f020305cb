package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The autoscale benchmark: how soon an autoscale pool with no nodes runs
// work queued on it. A pool evaluates
//
//	$TargetDedicatedNodes = min(4, $PendingTasks.GetSample(1));
//
// every second (autoScaleEvaluationInterval PT1S) with the local provider;
// 100 tasks are added in one addtaskcollection call; the bench times, from
// the moment the add returned, the pool's first node, the first task's
// executionInfo.startTime and the last task's endTime, and then how long
// the pool takes to go back to no nodes.
const (
	autoscaleFormula = "$TargetDedicatedNodes = min(4, $PendingTasks.GetSample(1));"
	// targetFirstRunS is the target for the first task running after the
	// add, in seconds.
	targetFirstRunS = 3.0
)

// autoscaleResult is the autoscale benchmark's outcome. Times are seconds
// after the add call returned.
type autoscaleResult struct {
	Tasks   int    `json:"tasks"`
	Command string `json:"command"`
	Slots   int    `json:"slotsPerNode"`
	Formula string `json:"formula"`
	// FirstNode is when the pool first showed a current node (polled).
	FirstNode float64 `json:"firstNodeS"`
	// MaxNodes is the most current nodes the pool showed.
	MaxNodes int `json:"maxNodes"`
	// FirstRun is the earliest executionInfo.startTime.
	FirstRun float64 `json:"firstRunS"`
	// AllDone is the latest executionInfo.endTime.
	AllDone float64 `json:"allDoneS"`
	// SeenDone is when the job's task counts first showed every task
	// completed (polled).
	SeenDone float64 `json:"seenDoneS"`
	// BackToZero is when the pool showed no nodes again, after the last
	// task ended; negative if it did not within the wait.
	BackToZero float64 `json:"backToZeroS"`
}

// poolState is the part of a pool the autoscale benchmark reads.
type poolState struct {
	AllocationState       string `json:"allocationState"`
	CurrentDedicatedNodes int    `json:"currentDedicatedNodes"`
	AutoScaleRun          *struct {
		Results string `json:"results"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"autoScaleRun"`
}

// runAutoscale measures the autoscale benchmark in its own natch up.
func runAutoscale(ctx context.Context, o options, p *printer) (res *autoscaleResult, err error) {
	in, err := startNatch(ctx, o.natch, o.workDir, "autoscale")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, in.stop()) }()
	c, err := newClient(in.conn, 4)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const pool, job = "auto-pool", "auto-job"
	res = &autoscaleResult{Tasks: o.autoscaleTasks, Command: o.autoscaleCommand, Slots: o.autoscaleSlots,
		Formula: autoscaleFormula, BackToZero: -1}
	if err := c.call(ctx, http.MethodPost, "/pools", map[string]any{
		"id": pool, "vmSize": "standard_d2s_v3", "taskSlotsPerNode": o.autoscaleSlots,
		"enableAutoScale": true, "autoScaleFormula": autoscaleFormula, "autoScaleEvaluationInterval": "PT1S",
	}, http.StatusCreated, nil); err != nil {
		return nil, err
	}
	// Wait for the first evaluation: the pool is autoscaling, at 0 nodes.
	if _, err := waitPool(ctx, c, pool, 30*time.Second, func(ps poolState) (bool, error) {
		if r := ps.AutoScaleRun; r != nil && r.Error != nil {
			return false, fmt.Errorf("autoscale evaluation failed: %s: %s", r.Error.Code, r.Error.Message)
		}
		return ps.AutoScaleRun != nil && ps.CurrentDedicatedNodes == 0, nil
	}); err != nil {
		return nil, err
	}
	if err := c.createJob(ctx, job, pool); err != nil {
		return nil, err
	}
	bodies, err := collections("a", o.autoscaleCommand, o.autoscaleTasks)
	if err != nil {
		return nil, err
	}
	p.logf("autoscale: %d × %q on an empty autoscale pool (%s, every 1s, %d slots a node) …",
		o.autoscaleTasks, o.autoscaleCommand, autoscaleFormula, o.autoscaleSlots)
	for _, b := range bodies[:len(bodies)-1] { // all but the last: the clock starts with the last add
		if _, err := c.addCollection(ctx, job, b); err != nil {
			return nil, err
		}
	}
	if _, err := c.addCollection(ctx, job, bodies[len(bodies)-1]); err != nil {
		return nil, err
	}
	added := time.Now()
	since := func(t time.Time) float64 { return t.Sub(added).Seconds() }

	// Poll the pool and the job's counts until every task is done.
	deadline := added.Add(o.timeout)
	for {
		var ps poolState
		if err := c.call(ctx, http.MethodGet, "/pools/"+pool, nil, http.StatusOK, &ps); err != nil {
			return nil, err
		}
		now := time.Now()
		if ps.CurrentDedicatedNodes > 0 && res.FirstNode == 0 {
			res.FirstNode = since(now)
		}
		res.MaxNodes = max(res.MaxNodes, ps.CurrentDedicatedNodes)
		tc, err := c.counts(ctx, job)
		if err != nil {
			return nil, err
		}
		if tc.Failed > 0 {
			return nil, fmt.Errorf("%d tasks failed", tc.Failed)
		}
		if tc.Completed == o.autoscaleTasks {
			res.SeenDone = since(time.Now())
			break
		}
		if now.After(deadline) {
			return nil, fmt.Errorf("not done after %v: counts %+v, pool %+v", o.timeout, tc, ps)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	first, last, _, err := taskSpan(ctx, c, job)
	if err != nil {
		return nil, err
	}
	res.FirstRun, res.AllDone = since(first), since(last)
	p.logf("autoscale: first node %.2fs, first task running %.2fs, all done %.2fs (up to %d nodes); waiting for 0 nodes …",
		res.FirstNode, res.FirstRun, res.AllDone, res.MaxNodes)

	// Scale-in: back to no nodes once nothing is pending.
	if _, err := waitPool(ctx, c, pool, 60*time.Second, func(ps poolState) (bool, error) {
		return ps.CurrentDedicatedNodes == 0 && ps.AllocationState == "steady", nil
	}); err == nil {
		res.BackToZero = since(time.Now())
		p.logf("autoscale: back to 0 nodes %.2fs after the add", res.BackToZero)
	} else {
		p.logf("autoscale: %v", err)
	}
	return res, nil
}

// waitPool polls a pool every 50ms until done says so, or timeout.
func waitPool(ctx context.Context, c *client, pool string, timeout time.Duration, done func(poolState) (bool, error)) (poolState, error) {
	deadline := time.Now().Add(timeout)
	for {
		var ps poolState
		if err := c.call(ctx, http.MethodGet, "/pools/"+pool, nil, http.StatusOK, &ps); err != nil {
			return ps, err
		}
		ok, err := done(ps)
		if err != nil || ok {
			return ps, err
		}
		if time.Now().After(deadline) {
			return ps, fmt.Errorf("pool %s: not there after %v: %+v", pool, timeout, ps)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return ps, err
		}
	}
}
