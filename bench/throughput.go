package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// throughputSlots is the node's task slots in the throughput benchmark, and
// the baseline's number of goroutines.
const throughputSlots = 2

// baselineRun is one run of the plain-Go baseline.
type baselineRun struct {
	Tasks   int     `json:"tasks"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"tasksPerSecond"`
	CPU     cpuUse  `json:"cpu"`
}

// natchRun is one run of natch in the throughput benchmark.
type natchRun struct {
	Tasks int `json:"tasks"`
	// Seconds is from the first addtaskcollection sent to the first
	// taskcounts poll that saw every task completed.
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"tasksPerSecond"`
	// AddSeconds is how long adding all tasks took (from the same start).
	AddSeconds float64 `json:"addSeconds"`
	// FirstStartSeconds is when the first task's process started, by its
	// executionInfo.startTime, relative to the start.
	FirstStartSeconds float64 `json:"firstStartSeconds"`
	// WorkerSeconds is from the first task's startTime to the last task's
	// endTime, as the worker recorded them: the run without the add ramp-up
	// and without the client's polling.
	WorkerSeconds float64 `json:"workerSeconds"`
	// WorkerRate is Tasks / WorkerSeconds.
	WorkerRate float64 `json:"workerTasksPerSecond"`
	// Failed counts tasks that did not succeed.
	Failed int `json:"failed"`
	// CPU is the CPU used from the start to the last poll.
	CPU cpuUse `json:"cpu"`
	// ServerInPerTask and ServerOutPerTask are the messages the embedded
	// NATS server received from and sent to its clients (dispatcher,
	// worker, …) over the same span, per task (0 when not measured).
	ServerInPerTask  float64 `json:"serverInPerTask,omitempty"`
	ServerOutPerTask float64 `json:"serverOutPerTask,omitempty"`
	// Progress describes how steadily tasks completed.
	Progress progress `json:"progress"`
	// List is the listing of the job's tasks done afterwards (to read
	// their times), outside the clock.
	List listTiming `json:"list"`
}

// throughputResult is the throughput benchmark's outcome.
type throughputResult struct {
	Baseline []baselineRun `json:"baseline"`
	Natch    []natchRun    `json:"natch"`
	// Order is the order the runs were made in, e.g. "baseline,natch,baseline".
	Order string `json:"order"`
	// BaselineRate and NatchRate are the means of the runs.
	BaselineRate float64 `json:"baselineTasksPerSecond"`
	NatchRate    float64 `json:"natchTasksPerSecond"`
	// Ratio is NatchRate / BaselineRate; the target is ≥ 0.85.
	Ratio float64 `json:"ratio"`
	// BaselineCPUMs and NatchCPUMs are the mean CPU milliseconds per task:
	// for the baseline, its loop and the processes; for natch, natch up,
	// the worker and the processes (not the bench's client).
	BaselineCPUMs float64 `json:"baselineCpuMsPerTask"`
	NatchCPUMs    float64 `json:"natchCpuMsPerTask"`
	// CPURatio is BaselineCPUMs / NatchCPUMs: the throughput ratio to
	// expect when the CPUs are the limit. It depends less on other load
	// than Ratio does.
	CPURatio float64 `json:"cpuRatio"`
	// RoundRatios are each natch run's rate over the mean of the two
	// baseline runs around it; MedianRatio is their median, the verdict:
	// the host's load (CPU steal) changes from one run to the next, and a
	// run's neighbours saw the closest conditions.
	RoundRatios []float64 `json:"roundRatios"`
	MedianRatio float64   `json:"medianRatio"`
}

// runThroughput runs baseline and natch alternately, rounds natch runs
// surrounded by baseline runs: B N B (N B …).
func runThroughput(ctx context.Context, o options, p *printer) (*throughputResult, error) {
	res := &throughputResult{}
	order := ""
	runBaseline := func() error {
		dir, err := os.MkdirTemp(o.workDir, "baseline-")
		if err != nil {
			return err
		}
		p.logf("throughput: baseline, %d × `true`, %d goroutines …", o.tasks, throughputSlots)
		b, err := baseline(ctx, dir, o.tasks, throughputSlots)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		p.logf("throughput: baseline %.0f tasks/s (%.2fs)", b.Rate, b.Seconds)
		res.Baseline = append(res.Baseline, b)
		order += "baseline,"
		return nil
	}
	if err := runBaseline(); err != nil {
		return nil, err
	}
	for range o.rounds {
		n, err := throughputNatch(ctx, o, p)
		if err != nil {
			return nil, fmt.Errorf("natch: %w", err)
		}
		res.Natch = append(res.Natch, n)
		order += "natch,"
		if err := runBaseline(); err != nil {
			return nil, err
		}
	}
	res.Order = order[:len(order)-1]
	for _, b := range res.Baseline {
		k := float64(len(res.Baseline))
		res.BaselineRate += b.Rate / k
		res.BaselineCPUMs += 1000 * (b.CPU.Bench + b.CPU.Tasks) / float64(b.Tasks) / k
	}
	for _, n := range res.Natch {
		k := float64(len(res.Natch))
		res.NatchRate += n.Rate / k
		res.NatchCPUMs += 1000 * (n.CPU.Service + n.CPU.Agent + n.CPU.Tasks) / float64(n.Tasks) / k
	}
	res.Ratio = res.NatchRate / res.BaselineRate
	res.CPURatio = res.BaselineCPUMs / res.NatchCPUMs
	for i, n := range res.Natch {
		around := (res.Baseline[i].Rate + res.Baseline[i+1].Rate) / 2
		res.RoundRatios = append(res.RoundRatios, n.Rate/around)
	}
	res.MedianRatio = median(res.RoundRatios)
	return res, nil
}

// baseline runs n `true` processes with par goroutines the way a minimal
// node agent would: for each, create a new task directory with a working
// directory in it, create stdout.txt and stderr.txt, start the process in
// the working directory with its output going to the files, wait for it,
// close the files.
func baseline(ctx context.Context, dir string, n, par int) (baselineRun, error) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		return baselineRun{}, err
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	one := func(i int) error {
		taskDir := filepath.Join(dir, "task-"+strconv.Itoa(i))
		wd := filepath.Join(taskDir, "wd")
		if err := os.MkdirAll(wd, 0o755); err != nil {
			return err
		}
		stdout, err := os.Create(filepath.Join(taskDir, "stdout.txt"))
		if err != nil {
			return err
		}
		defer stdout.Close()
		stderr, err := os.Create(filepath.Join(taskDir, "stderr.txt"))
		if err != nil {
			return err
		}
		defer stderr.Close()
		cmd := exec.Command(truePath)
		cmd.Dir, cmd.Stdout, cmd.Stderr = wd, stdout, stderr
		return cmd.Run()
	}
	meter := newCPUMeter("", nil)
	start := time.Now()
	for range par {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := one(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	cpu := meter.since()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return baselineRun{}, err
	}
	return baselineRun{Tasks: n, Seconds: d.Seconds(), Rate: float64(n) / d.Seconds(), CPU: cpu}, nil
}

// throughputNatch starts natch, makes a pool of one idle node with two
// slots, adds o.tasks `true` tasks with o.addConcurrency addtaskcollection
// requests in flight, and times it until taskcounts says all completed.
func throughputNatch(ctx context.Context, o options, p *printer) (run natchRun, err error) {
	in, err := startNatch(ctx, o.natch, o.workDir, "throughput")
	if err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, in.stop()) }()
	c, err := newClient(in.conn, o.addConcurrency+2)
	if err != nil {
		return run, err
	}
	defer c.close()
	const pool, job = "tp-pool", "tp-job"
	if err := c.createPool(ctx, pool, 1, throughputSlots); err != nil {
		return run, err
	}
	if err := c.waitIdle(ctx, pool, 1, 60*time.Second); err != nil {
		return run, err
	}
	if err := c.createJob(ctx, job, pool); err != nil {
		return run, err
	}
	bodies, err := collections("t", "true", o.tasks)
	if err != nil {
		return run, err
	}
	p.logf("throughput: natch, %d × `true` on 1 node × %d slots, %d collections in flight …",
		o.tasks, throughputSlots, o.addConcurrency)

	workers := in.workerPIDs()
	if len(workers) != 1 {
		return run, fmt.Errorf("want 1 worker process, found %v", workers)
	}
	meter := newCPUMeter(in.pid(), workers)
	msgsBefore, msgsErr := in.varz(ctx)
	start := time.Now()
	addDone := make(chan error, 1)
	go func() {
		_, err := addAll(ctx, c, job, bodies, o.addConcurrency)
		if err == nil {
			run.AddSeconds = time.Since(start).Seconds()
		}
		addDone <- err
	}()
	var (
		last    taskCounts
		samples []progressSample
	)
	for {
		if err := sleep(ctx, o.poll); err != nil {
			return run, err
		}
		select {
		case err := <-addDone:
			if err != nil {
				return run, err
			}
			addDone = nil
		default:
		}
		if last, err = c.counts(ctx, job); err != nil {
			return run, err
		}
		samples = append(samples, progressSample{At: time.Since(start), Completed: last.Completed})
		if last.Completed >= o.tasks {
			break
		}
		if time.Since(start) > o.timeout {
			return run, fmt.Errorf("not done after %v: counts %+v", o.timeout, last)
		}
	}
	d := time.Since(start)
	run.CPU = meter.since()
	if msgsErr == nil {
		if after, err := in.varz(ctx); err == nil {
			run.ServerInPerTask = float64(after.In-msgsBefore.In) / float64(o.tasks)
			run.ServerOutPerTask = float64(after.Out-msgsBefore.Out) / float64(o.tasks)
		}
	}
	if addDone != nil {
		if err := <-addDone; err != nil {
			return run, err
		}
	}
	run.Tasks, run.Seconds, run.Rate = o.tasks, d.Seconds(), float64(o.tasks)/d.Seconds()
	run.Progress = summarizeProgress(samples, o.tasks)
	run.Failed = last.Completed - last.Succeeded
	p.logf("throughput: natch %.0f tasks/s (%.2fs; adds done at %.2fs; %d failed); "+
		"10%%→90%% of completions at %.0f tasks/s; 1 s windows %.0f–%.0f tasks/s; longest stall %.0f ms; "+
		"NATS messages per task %.2f in, %.2f out",
		run.Rate, run.Seconds, run.AddSeconds, run.Failed, run.Progress.SteadyRate,
		run.Progress.MinWindowRate, run.Progress.MaxWindowRate, run.Progress.LongestStallMs,
		run.ServerInPerTask, run.ServerOutPerTask)

	first, lastEnd, lt, err := taskSpan(ctx, c, job)
	run.List = lt
	p.logf("throughput: listing the %d tasks took %.2fs in %d pages (first page %.3fs, last page %.3fs)",
		o.tasks, lt.Seconds, lt.Pages, lt.FirstPage, lt.LastPage)
	if err != nil {
		p.logf("throughput: could not list the tasks' times: %v", err)
	} else {
		run.FirstStartSeconds = first.Sub(start).Seconds()
		run.WorkerSeconds = lastEnd.Sub(first).Seconds()
		run.WorkerRate = float64(o.tasks) / run.WorkerSeconds
		p.logf("throughput: worker-recorded span %.2fs (%.0f tasks/s), first process started %.0f ms after the first add",
			run.WorkerSeconds, run.WorkerRate, 1000*run.FirstStartSeconds)
	}
	return run, nil
}

// addAll posts the bodies with par requests in flight and returns the
// number of tasks accepted.
func addAll(ctx context.Context, c *client, job string, bodies [][]byte, par int) (int, error) {
	var (
		next     atomic.Int64
		accepted atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range par {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				n, err := c.addCollection(ctx, job, bodies[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				accepted.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return int(accepted.Load()), firstErr
}
