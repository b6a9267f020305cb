package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Why an active task waits: the codes of batch.WaitReason.
const (
	WaitDependencies = "WaitingForDependencies"       // parents have not ended yet
	WaitBlocked      = "BlockedByDependency"          // a parent ended and its dependencyAction is block
	WaitJobDisabled  = "JobDisabled"                  // the job is disabled
	WaitNoNodes      = "NoNodes"                      // the pool has no usable node
	WaitPoolResizing = "PoolResizing"                 // no usable node yet, the pool is growing
	WaitSlotsBusy    = "AllSlotsBusy"                 // every task slot of the pool is taken
	WaitQueued       = "Queued"                       // queued; a node with free slots takes it next
	WaitRetry        = "WaitingForRetry"              // failed and queued again for another attempt
	WaitMaxParallel  = "MaxParallelTasksReached"      // the job's maxParallelTasks tasks are queued or running
	WaitPriority     = "WaitingForHigherPriorityJobs" // the pool runs higher-priority jobs' tasks first
	// a multi-instance task's instances cannot all find a node at once (multiinstance.go)
	WaitMultiInstanceNodes = "WaitingForMultiInstanceNodes"
)

// Waits explains why a job's active tasks wait. It reads the job once and,
// only when a task needs it, the pool and its nodes once: one Waits serves
// one request, however many tasks it lists.
type Waits struct {
	s       *Service
	ctx     context.Context
	account string
	job     *state.JobRecord
	pool    *poolLoad
	// inFlight is, for a job with maxParallelTasks, how many of its tasks
	// are queued in the pool or running (-1: not read yet).
	inFlight int
}

// poolLoad is a pool's capacity as its node records tell it.
type poolLoad struct {
	pool       *batch.Pool
	usable     int // nodes that can run tasks
	freeSlots  int
	totalSlots int
	err        error
}

// Waits returns the explainer of a job's tasks; nil if the job cannot be read.
func (s *Service) Waits(ctx context.Context, account, jobID string) *Waits {
	job, err := s.GetJob(ctx, account, jobID)
	if err != nil {
		return nil
	}
	return &Waits{s: s, ctx: ctx, account: account, job: job, inFlight: -1}
}

// Reason says why t waits, or nil when it is not active. w may be nil.
func (w *Waits) Reason(t *state.TaskRecord) *batch.WaitReason {
	if w == nil || t.State != batch.TaskActive {
		return nil
	}
	switch {
	case t.BlockedBy != "":
		return &batch.WaitReason{Code: WaitBlocked, Message: fmt.Sprintf(
			"Task %s ended in a way that blocks the tasks depending on it (dependencyAction block); this task will not run unless that task is reactivated and succeeds.", t.BlockedBy)}
	case len(t.Waiting) > 0:
		return &batch.WaitReason{Code: WaitDependencies, Message: fmt.Sprintf(
			"Waiting for %d task(s) it depends on to complete, such as %s.", len(t.Waiting), depName(t.Waiting[0]))}
	case w.job.State == batch.JobDisabled:
		return &batch.WaitReason{Code: WaitJobDisabled, Message: "The job is disabled; its tasks run when it is enabled."}
	}
	if top, ok := w.s.topPriority(w.account, w.job); ok && batch.IntOr(w.job.Priority, 0) < top {
		return &batch.WaitReason{Code: WaitPriority, Message: fmt.Sprintf(
			"Pool %s runs the tasks of higher-priority jobs first (up to priority %d); this job has priority %d.",
			w.job.PoolInfo.PoolID, top, batch.IntOr(w.job.Priority, 0))}
	}
	if gated(w.job) {
		if w.inFlight < 0 {
			n, err := w.s.inFlight(w.ctx, w.account, w.job)
			if err != nil {
				n = 0
			}
			w.inFlight = n
		}
		if w.inFlight >= *w.job.MaxParallelTasks {
			return &batch.WaitReason{Code: WaitMaxParallel, Message: fmt.Sprintf(
				"The job's maxParallelTasks (%d) tasks are queued or running; this task waits for one of them to end.", *w.job.MaxParallelTasks)}
		}
	}
	p := w.load()
	if p.err != nil {
		return nil
	}
	if r := w.multiInstanceReason(t, p); r != nil { // multiinstance.go
		return r
	}
	slots := batch.IntOr(t.RequiredSlots, 1)
	switch {
	case p.usable == 0 && p.pool.AllocationState == batch.AllocResizing:
		return &batch.WaitReason{Code: WaitPoolResizing, Message: fmt.Sprintf(
			"Pool %s has no node ready yet; it is resizing to %d dedicated and %d low-priority nodes.",
			p.pool.ID, batch.IntOr(p.pool.TargetDedicatedNodes, 0), batch.IntOr(p.pool.TargetLowPriorityNodes, 0))}
	case p.usable == 0:
		msg := fmt.Sprintf("Pool %s has no node that can run tasks.", p.pool.ID)
		if p.pool.EnableAutoScale != nil && *p.pool.EnableAutoScale {
			msg += " Its autoscale formula decides when nodes are added."
		} else {
			msg += " Resize the pool to add nodes."
		}
		return &batch.WaitReason{Code: WaitNoNodes, Message: msg}
	case p.freeSlots < slots:
		return &batch.WaitReason{Code: WaitSlotsBusy, Message: fmt.Sprintf(
			"All task slots of pool %s are busy (%d of %d in use); the task needs %d.", p.pool.ID, p.totalSlots-p.freeSlots, p.totalSlots, slots)}
	case t.ExecutionInfo != nil && t.ExecutionInfo.RetryCount > 0:
		return &batch.WaitReason{Code: WaitRetry, Message: fmt.Sprintf(
			"Attempt %d failed; the task is queued for retry %d.", t.ExecutionInfo.RetryCount, t.ExecutionInfo.RetryCount)}
	}
	return &batch.WaitReason{Code: WaitQueued, Message: fmt.Sprintf(
		"Queued in pool %s; a node with a free slot takes it next.", p.pool.ID)}
}

func (w *Waits) load() *poolLoad {
	if w.pool != nil {
		return w.pool
	}
	p := &poolLoad{}
	w.pool = p
	p.pool, p.err = w.s.GetPool(w.ctx, w.account, w.job.PoolInfo.PoolID)
	if p.err != nil {
		return p
	}
	nodes, err := w.s.st.Nodes.List(w.ctx, topology.PoolNodeKeys(w.account, batch.Key(p.pool.ID)))
	if err != nil {
		p.err = err
		return p
	}
	for _, e := range nodes {
		n := e.Value
		if !usable(n) {
			continue
		}
		p.usable++
		p.totalSlots += n.Slots
		p.freeSlots += max(0, n.Slots-n.RunningTaskSlotsCount)
	}
	return p
}

// usable reports whether a node can take tasks: idle or running, with
// scheduling enabled.
func usable(n *protocol.NodeRecord) bool {
	return (n.State == batch.NodeIdle || n.State == batch.NodeRunning) && n.SchedulingState != "disabled"
}

// depName renders a deps key as the task it names.
func depName(key string) string {
	parts := strings.SplitN(key, ".", 4)
	if len(parts) < 4 {
		return key
	}
	if parts[2] == "n" {
		return "the task with integer id " + parts[3]
	}
	return "task " + parts[3]
}
