package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// metricNodeStates are the node states natch_pool_nodes reports for every
// pool, zero included: those GET /nodecounts reports.
func metricNodeStates() []string {
	return []string{batch.NodeCreating, batch.NodeStarting, batch.NodeWaitingForStartTask, batch.NodeStartTaskFailed,
		batch.NodeIdle, batch.NodeRunning, batch.NodeOffline, batch.NodeLeaving, batch.NodeUnusable, batch.NodeUnknown,
		batch.NodePreempted, NodeRebooting, NodeReimaging}
}

// ReadState implements metrics.StateReader for the state gauges at
// /metrics: every account's pools with their nodes, targets and queue
// depths, and the jobs that are not completed with their task counts. It
// costs one scan of the pools, nodes, jobs and counts buckets and one
// consumer info per pool; nothing is kept between calls.
func (s *Service) ReadState(ctx context.Context) (*metrics.State, error) {
	pools, err := s.st.Pools.List(ctx, ">")
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	out := &metrics.State{Pools: make([]metrics.PoolState, 0, len(pools))}
	at := make(map[string]int, len(pools)) // pool key → index in out.Pools
	for _, e := range pools {
		account, poolKey, ok := strings.Cut(e.Key, ".")
		if !ok {
			continue
		}
		p := e.Value
		ps := metrics.PoolState{Account: account, Pool: p.ID, Nodes: map[string]int{},
			TargetDedicated: batch.IntOr(p.TargetDedicatedNodes, 0), TargetLowPriority: batch.IntOr(p.TargetLowPriorityNodes, 0),
			CurrentDedicated: batch.IntOr(p.CurrentDedicatedNodes, 0), CurrentLowPriority: batch.IntOr(p.CurrentLowPriorityNodes, 0),
			AutoScale: p.EnableAutoScale != nil && *p.EnableAutoScale}
		for _, st := range metricNodeStates() {
			ps.Nodes[st] = 0
		}
		cons, err := s.js.Consumer(ctx, topology.TasksStream, topology.PoolConsumer(account, poolKey))
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound): // no queue yet: nothing queued
		case err != nil:
			return nil, fmt.Errorf("pool consumer %s: %w", e.Key, err)
		default:
			info := cons.CachedInfo()
			ps.Queued, ps.InFlight = info.NumPending, uint64(max(info.NumAckPending, 0))
		}
		at[e.Key] = len(out.Pools)
		out.Pools = append(out.Pools, ps)
	}

	nodes, err := s.st.Nodes.List(ctx, ">")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	for _, e := range nodes {
		i := strings.LastIndexByte(e.Key, '.')
		if i < 0 {
			continue
		}
		if p, ok := at[e.Key[:i]]; ok {
			out.Pools[p].Nodes[cmp.Or(e.Value.State, batch.NodeUnknown)]++
		}
	}

	// Jobs that are not completed, then their counts. A key written again
	// during a scan may come twice: the later revision wins.
	open := map[string]*metrics.JobState{}
	err = s.st.Jobs.Scan(ctx, ">", 0, func(e state.Entry[state.JobRecord]) bool {
		if e.Value.State == batch.JobCompleted {
			delete(open, e.Key)
			return true
		}
		account, _, _ := strings.Cut(e.Key, ".")
		open[e.Key] = &metrics.JobState{Account: account, Job: e.Value.ID}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("scan jobs: %w", err)
	}
	if len(open) > 0 {
		err = s.st.Counts.Scan(ctx, ">", 0, func(e state.Entry[state.Counts]) bool {
			if j, ok := open[e.Key]; ok {
				c := e.Value.Tasks
				j.Active, j.Running, j.Completed = max(c.Active, 0), max(c.Running, 0), max(c.Completed, 0)
				j.Succeeded, j.Failed = max(c.Succeeded, 0), max(c.Failed, 0)
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("scan counts: %w", err)
		}
	}
	out.Jobs = make([]metrics.JobState, 0, len(open))
	for _, j := range open {
		out.Jobs = append(out.Jobs, *j)
	}
	slices.SortFunc(out.Jobs, func(a, b metrics.JobState) int {
		return cmp.Or(strings.Compare(a.Account, b.Account), strings.Compare(a.Job, b.Job))
	})
	return out, nil
}
