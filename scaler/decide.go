package scaler

import (
	"cmp"
	"slices"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Policy holds the timings Decide applies.
type Policy struct {
	// OfflineAfter is how long a node may go without a heartbeat before it
	// is marked offline.
	OfflineAfter time.Duration
	// OfflineRetention is how long an offline node's record stays visible
	// before the scaler deletes it.
	OfflineRetention time.Duration
	// StartTimeout is how long a started node has to register. A node that
	// does not is stopped and replaced. An offline node whose process is
	// still there but which has not heartbeated for OfflineAfter+StartTimeout
	// is considered hung: it is stopped and stops counting.
	StartTimeout time.Duration
}

// Node is what Decide knows of one node of a pool: its record in the nodes
// bucket, or, for a node that was started but has not registered yet, when
// it was started.
type Node struct {
	ID string
	// Record is the node's record; nil while a started node has not registered.
	Record *protocol.NodeRecord
	// Dedicated says which target an unregistered node counts against
	// (registered nodes use Record.IsDedicated).
	Dedicated bool
	// StartedAt is when an unregistered node was started.
	StartedAt time.Time
	// Stopping says an unregistered node is being stopped (cancelled or
	// failed): it is forgotten once its process is gone.
	Stopping bool
	// Alive is the provider's word: the node's process or VM exists.
	Alive bool
	// Preempted is the provider's word: the node was evicted (a
	// Preempter's Preempted).
	Preempted bool
}

// Plan is what the scaler does to one pool in one round. Every list holds
// node ids.
type Plan struct {
	// StartDedicated and StartLowPriority are how many nodes to start.
	StartDedicated, StartLowPriority int
	// Leave are registered nodes to remove: their record is set to
	// leavingpool, then the provider stops them.
	Leave []string
	// Cancel are unregistered nodes no longer wanted: stop them.
	Cancel []string
	// Failed are unregistered nodes that exited or did not register within
	// StartTimeout: stop them and count a failed start.
	Failed []string
	// Forget are unregistered nodes that were stopped and are gone.
	Forget []string
	// Stop are nodes whose process is to be stopped (again) without a change
	// to their record: leaving nodes that are still up, hung offline nodes,
	// nodes whose record is deleted, unregistered nodes being stopped.
	Stop []string
	// MarkOffline are nodes whose heartbeat is older than OfflineAfter.
	MarkOffline []string
	// Delete are node records to delete: offline or preempted past
	// OfflineRetention, or leaving and gone.
	Delete []string
	// MarkPreempted are low-priority nodes the provider says were evicted
	// whose record does not say preempted yet.
	MarkPreempted []string
	// Preempt are preempted nodes whose process is still there: evict them
	// at once (Preempter.Preempt, else Stop).
	Preempt []string
	// CurrentDedicated and CurrentLowPriority are the registered nodes that
	// count towards the targets (not leaving, not offline and gone).
	CurrentDedicated, CurrentLowPriority int
	// Busy says nodes are starting or leaving: the pool is resizing
	// whatever its counts.
	Busy bool
	// StopResize says the pool's resize was stopped (allocationState
	// stopping): its targets become its current counts and it turns steady.
	StopResize bool
	// DeletePool says the pool is deleting and has no nodes left: delete its
	// consumer and its record.
	DeletePool bool
	// ResizeTimedOut says the pool's manual resize ran past its
	// resizeTimeout with nodes still missing: its unregistered starts are
	// cancelled, an AllocationTimedout resize error is recorded and the pool
	// turns steady below its targets.
	ResizeTimedOut bool
	// TimedOut says the pool's record already shows a timed-out resize: no
	// node is started until the next resize (which clears resizeErrors).
	TimedOut bool
}

// DefaultResizeTimeout is a pool's resizeTimeout when it has none: Azure's
// 15 minutes.
const DefaultResizeTimeout = 15 * time.Minute

// ResizeTimedOutCode is the resize error code of a resize that ran past
// the pool's resizeTimeout (Azure's spelling).
const ResizeTimedOutCode = "AllocationTimedout"

// AllocationState is the pool's allocationState after the plan: resizing
// while nodes start or leave or the counts are below the targets, else
// steady. (Counts above the targets with nothing leaving are external nodes
// the scaler does not remove.)
func (pl Plan) AllocationState(p *batch.Pool) string {
	if pl.StopResize || pl.ResizeTimedOut || pl.TimedOut {
		return batch.AllocSteady
	}
	if pl.Busy || pl.CurrentDedicated < batch.IntOr(p.TargetDedicatedNodes, 0) ||
		pl.CurrentLowPriority < batch.IntOr(p.TargetLowPriorityNodes, 0) {
		return batch.AllocResizing
	}
	return batch.AllocSteady
}

// Scale-in order: the first to go are the least useful.
const (
	rankOffline  = iota // counted offline node: up, but not heartbeating
	rankPending         // started, not registered
	rankStarting        // registered, agent or start task starting
	rankIdle            // no task (or unusable)
	rankRunning         // running tasks
)

type candidate struct {
	id      string
	rank    int
	running int
	pending bool
}

// Decide reconciles one pool with its nodes at now. pool nil means the
// pool's record is gone: its nodes are removed as if it were deleting. A
// deleting pool is deleted once no node, registered or not, is left.
//
// A node counts towards the targets while it is registered and not leaving,
// or started and not yet registered (within StartTimeout). A node whose
// heartbeat is older than OfflineAfter is marked offline and keeps counting
// only while its process is alive (a network blip); once its process is
// gone, or it stayed silent for StartTimeout more, a replacement is started.
// Scale-in removes offline, unregistered, starting, idle and then running
// nodes (the fewest running tasks first). A node whose record names a
// RemoveOption (removeNodes) leaves whatever the counts: at once, or once
// it runs no task for protocol.OptionTaskCompletion; it does not count.
//
// A live, heartbeating node that the provider does not know is external: a
// `natch worker` someone runs by hand against the pool. It counts towards
// the current nodes (so fewer are started) but the scaler never removes it;
// with more external nodes than the target, the pool is simply above it.
func Decide(pool *batch.Pool, nodes []Node, p Policy, now time.Time) Plan {
	var pl Plan
	removing := pool == nil || pool.State == batch.PoolDeleting
	stopping := !removing && pool.AllocationState == batch.AllocStopping
	pl.StopResize = stopping
	pl.TimedOut = !removing && !stopping && resizeTimedOut(pool)
	expired := !removing && !stopping && !pl.TimedOut && resizeExpired(pool, now)
	var live [2][]candidate // [0] low-priority, [1] dedicated
	var external [2]int

	for _, n := range nodes {
		if n.Record == nil {
			switch {
			case n.Stopping && n.Alive:
				pl.Stop = append(pl.Stop, n.ID)
				pl.Busy = true
			case n.Stopping:
				pl.Forget = append(pl.Forget, n.ID)
			case !n.Alive || now.Sub(n.StartedAt) > p.StartTimeout:
				pl.Failed = append(pl.Failed, n.ID)
				pl.Busy = pl.Busy || n.Alive
			case removing || stopping:
				pl.Cancel = append(pl.Cancel, n.ID)
				pl.Busy = true
			default:
				live[kind(n.Dedicated)] = append(live[kind(n.Dedicated)], candidate{id: n.ID, rank: rankPending, pending: true})
			}
			continue
		}
		r := n.Record
		if r.State == batch.NodePreempted || (n.Preempted && !r.IsDedicated && r.State != batch.NodeLeaving) {
			// Evicted: it no longer counts, so a replacement starts (the
			// pool keeps seeking its target, as Azure's does).
			switch {
			case r.State != batch.NodePreempted:
				pl.MarkPreempted = append(pl.MarkPreempted, n.ID)
			case !n.Alive && (removing || now.Sub(offlineSince(r)) > p.OfflineRetention):
				pl.Delete = append(pl.Delete, n.ID)
			}
			if n.Alive {
				pl.Preempt = append(pl.Preempt, n.ID)
			}
			continue
		}
		silent := now.Sub(r.Heartbeat)
		stale := silent > p.OfflineAfter
		switch {
		case r.State == batch.NodeLeaving:
			if !n.Alive || stale {
				pl.Delete = append(pl.Delete, n.ID)
			} else {
				pl.Busy = true
			}
			if n.Alive {
				pl.Stop = append(pl.Stop, n.ID)
			}
			continue
		case r.RemoveOption != "":
			// Named in a removeNodes: exactly this node leaves (the target
			// already dropped for it), once it runs no task when asked to
			// wait for task completion. It no longer counts.
			pl.Busy = true
			if r.RemoveOption == protocol.OptionTaskCompletion && !stale &&
				(r.RunningTasksCount > 0 || len(r.RunningTasks) > 0) {
				continue
			}
			pl.Leave = append(pl.Leave, n.ID)
			continue
		case r.State == batch.NodeOffline || stale:
			if r.State != batch.NodeOffline {
				pl.MarkOffline = append(pl.MarkOffline, n.ID)
			} else if now.Sub(offlineSince(r)) > p.OfflineRetention {
				pl.Delete = append(pl.Delete, n.ID)
				if n.Alive {
					pl.Stop = append(pl.Stop, n.ID)
				}
				continue
			}
			if !stale { // offline on record, but heartbeating again
				break
			}
			if !n.Alive {
				if removing {
					pl.Delete = append(pl.Delete, n.ID)
				}
				continue
			}
			if silent > p.OfflineAfter+p.StartTimeout {
				pl.Stop = append(pl.Stop, n.ID) // hung: give up on it
				continue
			}
			live[kind(r.IsDedicated)] = append(live[kind(r.IsDedicated)], candidate{id: n.ID, rank: rankOffline})
			continue
		}
		if !n.Alive && !removing {
			external[kind(r.IsDedicated)]++
			continue
		}
		c := candidate{id: n.ID, rank: rankIdle}
		switch r.State {
		case batch.NodeCreating, batch.NodeStarting, "waitingforstarttask":
			c.rank = rankStarting
		case batch.NodeRunning:
			c.rank, c.running = rankRunning, max(r.RunningTasksCount, len(r.RunningTasks))
		}
		live[kind(r.IsDedicated)] = append(live[kind(r.IsDedicated)], c)
	}

	for k, nodes := range live {
		target := 0
		switch {
		case removing:
		case stopping:
			target = len(nodes) // freeze: nothing starts, nothing leaves
		case k == 1:
			target = batch.IntOr(pool.TargetDedicatedNodes, 0)
		default:
			target = batch.IntOr(pool.TargetLowPriorityNodes, 0)
		}
		target = max(target-external[k], 0)
		if pl.TimedOut {
			target = min(target, len(nodes)) // frozen below the target: nothing starts
		}
		if expired && (len(nodes) < target || slices.ContainsFunc(nodes, func(c candidate) bool { return c.pending })) {
			pl.ResizeTimedOut = true
		}
		if len(nodes) < target {
			if k == 1 {
				pl.StartDedicated = target - len(nodes)
			} else {
				pl.StartLowPriority = target - len(nodes)
			}
			pl.Busy = true
		}
		slices.SortFunc(nodes, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.running, b.running), cmp.Compare(a.id, b.id))
		})
		excess := max(len(nodes)-target, 0)
		current := external[k]
		for i, c := range nodes {
			switch {
			case i < excess && c.pending:
				pl.Cancel = append(pl.Cancel, c.id)
				pl.Busy = true
			case i < excess:
				pl.Leave = append(pl.Leave, c.id)
				pl.Busy = true
			case c.pending:
				pl.Busy = true
			default:
				current++
				if c.rank == rankStarting {
					pl.Busy = true
				}
			}
		}
		if k == 1 {
			pl.CurrentDedicated = current
		} else {
			pl.CurrentLowPriority = current
		}
	}
	if pl.ResizeTimedOut { // give up on the nodes that did not come
		pl.StartDedicated, pl.StartLowPriority = 0, 0
		for _, nodes := range live {
			for _, c := range nodes {
				if c.pending && !slices.Contains(pl.Cancel, c.id) {
					pl.Cancel = append(pl.Cancel, c.id)
				}
			}
		}
	}
	pl.DeletePool = pool != nil && removing && len(nodes) == 0
	return pl
}

// resizeTimedOut reports whether the pool's record shows a resize that
// timed out (and no resize since: a resize clears resizeErrors).
func resizeTimedOut(p *batch.Pool) bool {
	return slices.ContainsFunc(p.ResizeErrors, func(e batch.ResizeError) bool { return e.Code == ResizeTimedOutCode })
}

// resizeExpired reports whether a manual resize has been going on for
// longer than the pool's resizeTimeout. As in Azure, the timeout applies
// to manual resizes only, not to autoscale pools.
func resizeExpired(p *batch.Pool, now time.Time) bool {
	if p.AllocationState != batch.AllocResizing || p.AllocationStateTransitionTime == nil ||
		(p.EnableAutoScale != nil && *p.EnableAutoScale) {
		return false
	}
	timeout := DefaultResizeTimeout
	if p.ResizeTimeout != nil && p.ResizeTimeout.Std() > 0 {
		timeout = p.ResizeTimeout.Std()
	}
	return now.Sub(p.AllocationStateTransitionTime.Time) > timeout
}

func kind(dedicated bool) int {
	if dedicated {
		return 1
	}
	return 0
}

// offlineSince is when a node went offline: its state transition time, or
// its last heartbeat when the record has none.
func offlineSince(r *protocol.NodeRecord) time.Time {
	if r.StateTransitionTime != nil && r.StateTransitionTime.After(r.Heartbeat) {
		return r.StateTransitionTime.Time
	}
	return r.Heartbeat
}
