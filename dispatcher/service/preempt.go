package service

import (
	"context"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Errors of PreemptNode (natch-only codes: Azure has no such operation).
var (
	// ErrNodeDedicated: only low-priority (spot) nodes can be preempted.
	ErrNodeDedicated = &batch.Error{Status: 409, Code: "NodeIsDedicated",
		Message: "Only low-priority (spot) nodes can be preempted."}
	// ErrNodeLeaving: the node is already leaving the pool.
	ErrNodeLeaving = &batch.Error{Status: 409, Code: "NodeLeavingPool",
		Message: "The specified node is leaving the pool."}
)

// PreemptNode evicts a low-priority node as Azure evicts a spot VM (natch's
// operation POST /pools/{poolId}/nodes/{nodeId}/natch-preempt, op
// node.preempt): its record turns preempted with no running tasks. The
// scaler then kills the node's process at once and starts a replacement
// (the pool's low-priority target stays); the node's running tasks come
// back to the queue as requeues (requeueCount, not retryCount), when their
// ack wait runs out or at once if the worker sees its record first.
// Preempting a preempted node changes nothing.
func (s *Service) PreemptNode(ctx context.Context, account, poolID, nodeID string) error {
	if _, err := s.GetPool(ctx, account, poolID); err != nil {
		return err
	}
	if batch.ValidID("nodeId", nodeID) != nil {
		return batch.ErrNodeNotFound
	}
	key := topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID))
	_, _, err := s.st.Nodes.Update(ctx, key, func(r *protocol.NodeRecord) error {
		switch {
		case r.State == batch.NodePreempted:
			return state.ErrStop
		case r.IsDedicated:
			return ErrNodeDedicated
		case r.State == batch.NodeLeaving:
			return ErrNodeLeaving
		}
		r.State, r.StateTransitionTime = batch.NodePreempted, batch.At(s.st.Now())
		r.RunningTasksCount, r.RunningTaskSlotsCount, r.RunningTasks = 0, 0, nil
		return nil
	})
	return wrap("preempt node", err)
}
