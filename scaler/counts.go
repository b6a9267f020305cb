package scaler

import (
	"encoding/json"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
)

// The dispatcher keeps every job's task counts in the counts bucket
// (topology.CountsBucket, key "account.job", written every CountsFlush) and
// the job's pool in its record in the jobs bucket. The scaler watches both
// and keeps the sums by pool, for the samples of $SucceededTasks,
// $FailedTasks and the slot variables: an autoscale sample reads them from
// memory.

// jobCountsRecord is the part of a counts bucket value the scaler reads
// (dispatcher/state.Counts).
type jobCountsRecord struct {
	Tasks batch.TaskCounts `json:"taskCounts"`
	Slots batch.TaskCounts `json:"taskSlotCounts"`
}

// jobPoolRecord is the part of a jobs bucket value the scaler reads
// (dispatcher/state.JobRecord): the storage key of the job's pool.
type jobPoolRecord struct {
	PoolKey string `json:"natchPoolKey"`
}

// poolCounts are the task counts of a pool's jobs, summed.
type poolCounts struct {
	Tasks, Slots batch.TaskCounts
}

type jobEntry struct {
	pool   string // pool bucket key "account.pool"; "" until the job record is seen
	counts jobCountsRecord
}

// taskCounts sums the jobs' counts by pool, incrementally: each change of a
// job's counts or pool moves only that job's contribution.
type taskCounts struct {
	jobs  map[string]*jobEntry   // by job key "account.job"
	pools map[string]*poolCounts // by pool key
}

func newTaskCounts() *taskCounts {
	return &taskCounts{jobs: make(map[string]*jobEntry), pools: make(map[string]*poolCounts)}
}

// of returns the sums of a pool.
func (c *taskCounts) of(poolKey string) poolCounts {
	if p := c.pools[poolKey]; p != nil {
		return *p
	}
	return poolCounts{}
}

// move adds (sign 1) or removes (sign -1) a job's contribution.
func (c *taskCounts) move(j *jobEntry, sign int) {
	if j.pool == "" {
		return
	}
	p := c.pools[j.pool]
	if p == nil {
		p = &poolCounts{}
		c.pools[j.pool] = p
	}
	add := func(a *batch.TaskCounts, b batch.TaskCounts) {
		a.Active += sign * b.Active
		a.Running += sign * b.Running
		a.Completed += sign * b.Completed
		a.Succeeded += sign * b.Succeeded
		a.Failed += sign * b.Failed
	}
	add(&p.Tasks, j.counts.Tasks)
	add(&p.Slots, j.counts.Slots)
	if *p == (poolCounts{}) {
		delete(c.pools, j.pool)
	}
}

// update changes a job: its pool (pool != nil) or its counts (counts !=
// nil); both nil deletes it.
func (c *taskCounts) update(jobKey string, pool *string, counts *jobCountsRecord, deleted bool) {
	j := c.jobs[jobKey]
	if j == nil {
		if deleted {
			return
		}
		j = &jobEntry{}
		c.jobs[jobKey] = j
	}
	c.move(j, -1)
	switch {
	case deleted && pool != nil: // the job record is gone: so is the job
		delete(c.jobs, jobKey)
		return
	case deleted:
		j.counts = jobCountsRecord{}
	case pool != nil:
		j.pool = *pool
	case counts != nil:
		j.counts = *counts
	}
	c.move(j, 1)
}

// applyJob folds a jobs bucket change in.
func (c *taskCounts) applyJob(e jetstream.KeyValueEntry) {
	account, _, ok := strings.Cut(e.Key(), ".")
	if !ok {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		c.update(e.Key(), new(string), nil, true)
		return
	}
	var r jobPoolRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.PoolKey == "" {
		return
	}
	pool := account + "." + r.PoolKey
	c.update(e.Key(), &pool, nil, false)
}

// applyCounts folds a counts bucket change in.
func (c *taskCounts) applyCounts(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		c.update(e.Key(), nil, nil, true)
		return
	}
	var r jobCountsRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return
	}
	c.update(e.Key(), nil, &r, false)
}
