package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// casAttempts bounds a compare-and-set loop; a conflict means someone else
// wrote in between, and the next round starts from their write anyway.
const casAttempts = 8

// markNode sets a node's state by compare-and-set. Marking offline is
// skipped when a fresh read shows the node heartbeating again. The write is
// folded into the view at once, so that the next round does not repeat it.
func (s *Scaler) markNode(ctx context.Context, log *slog.Logger, ps *poolState, id, state string) {
	nodeKey := batch.Key(id)
	key := topology.NodeKey(ps.account, ps.pool, nodeKey)
	rec, rev, err := s.casNode(ctx, key, func(r *protocol.NodeRecord) bool {
		switch {
		case r.State == state, r.State == batch.NodeLeaving:
			return false
		case state == batch.NodeOffline && s.cfg.Now().Sub(r.Heartbeat) <= s.cfg.OfflineAfter:
			return false
		}
		r.State, r.StateTransitionTime = state, batch.At(s.cfg.Now())
		if state == batch.NodePreempted { // its tasks go back to the queue
			r.RunningTasksCount, r.RunningTaskSlotsCount, r.RunningTasks = 0, 0, nil
		}
		return true
	})
	if err != nil {
		log.ErrorContext(ctx, "set node state", "node_id", id, "state", state, "err", err)
		return
	}
	if rec == nil {
		return
	}
	if e, ok := ps.nodes[nodeKey]; !ok || e.rev < rev {
		ps.nodes[nodeKey] = nodeEntry{rec: *rec, rev: rev}
	}
	log.InfoContext(ctx, "node state set", "node_id", id, "state", state)
}

// casNode applies mutate to a node record by compare-and-set; see cas.
func (s *Scaler) casNode(ctx context.Context, key string, mutate func(*protocol.NodeRecord) bool) (*protocol.NodeRecord, uint64, error) {
	return cas(ctx, s.nodes, key, mutate)
}

// cas applies mutate to a JSON record by compare-and-set, re-reading on a
// conflict; mutate returns false to leave the record alone. It returns the
// record written and its revision, or nil when it wrote nothing (a missing
// record is no error).
func cas[T any](ctx context.Context, kv jetstream.KeyValue, key string, mutate func(*T) bool) (*T, uint64, error) {
	for range casAttempts {
		e, err := get(ctx, kv, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		r := new(T)
		if err := json.Unmarshal(e.Value(), r); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", key, err)
		}
		if !mutate(r) {
			return nil, 0, nil
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, 0, err
		}
		rev, err := update(ctx, kv, key, b, e.Revision())
		if err == nil {
			return r, rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, 0, err
		}
	}
	return nil, 0, fmt.Errorf("update %s: %w", key, jetstream.ErrKeyRevisionMismatch)
}

// deleteNode deletes a node record at the revision the scaler decided on;
// a record that changed since is left for the next round.
func (s *Scaler) deleteNode(ctx context.Context, log *slog.Logger, ps *poolState, id string) {
	e, ok := ps.nodes[batch.Key(id)]
	if !ok {
		return
	}
	key := topology.NodeKey(ps.account, ps.pool, batch.Key(id))
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := s.nodes.Delete(octx, key, jetstream.LastRevision(e.rev))
	switch {
	case err == nil:
		log.InfoContext(ctx, "node record deleted", "node_id", id, "state", e.rec.State)
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
	default:
		log.ErrorContext(ctx, "delete node record", "node_id", id, "err", err)
	}
}

// updatePool writes the plan's counts and allocation state into the pool
// record by compare-and-set, re-reading on conflict (the targets may have
// changed: the allocation state is computed from the fresh record).
func (s *Scaler) updatePool(ctx context.Context, log *slog.Logger, ps *poolState, plan Plan) {
	if !poolNeedsUpdate(ps.rec, plan) {
		return // nothing to write: no read either
	}
	p, _, err := cas(ctx, s.pools, ps.key, func(p *batch.Pool) bool { return applyPlan(p, plan, s.cfg.Now()) })
	switch {
	case err != nil:
		log.ErrorContext(ctx, "update pool; retrying next round", "err", err)
	case p != nil:
		log.DebugContext(ctx, "pool updated", "allocation_state", p.AllocationState,
			"current_dedicated", plan.CurrentDedicated, "current_low_priority", plan.CurrentLowPriority)
	}
}

// poolNeedsUpdate reports whether the plan changes what the record shows.
func poolNeedsUpdate(p *batch.Pool, plan Plan) bool {
	if plan.StopResize || plan.ResizeTimedOut {
		return true
	}
	cp := *p
	return applyPlan(&cp, plan, time.Time{})
}

// applyPlan writes the plan's counts and allocation state into p and
// reports whether anything changed. A changed record gets a new eTag (its
// representation changed); lastModified moves only when pool-level data
// (the targets) changed, as Azure documents: node-level changes such as
// current counts do not count.
func applyPlan(p *batch.Pool, plan Plan, now time.Time) bool {
	changed := false
	setInt := func(dst **int, v int) {
		if *dst == nil || **dst != v {
			*dst, changed = batch.Int(v), true
		}
	}
	setInt(&p.CurrentDedicatedNodes, plan.CurrentDedicated)
	setInt(&p.CurrentLowPriorityNodes, plan.CurrentLowPriority)
	if plan.StopResize {
		setInt(&p.TargetDedicatedNodes, plan.CurrentDedicated)
		setInt(&p.TargetLowPriorityNodes, plan.CurrentLowPriority)
		p.ResizeErrors = append(p.ResizeErrors, batch.ResizeError{Code: "ResizeStopped",
			Message: "Desired number of nodes could not be allocated due to a stop resize operation"})
		changed = true
	}
	// A resize since the plan (a fresh transition time) is not timed out.
	if plan.ResizeTimedOut && !resizeTimedOut(p) && (now.IsZero() || resizeExpired(p, now)) {
		p.ResizeErrors = append(p.ResizeErrors, batch.ResizeError{Code: ResizeTimedOutCode,
			Message: "Desired number of nodes could not be allocated as the resize timeout was reached"})
		changed = true
	}
	// A stopResize that came after the plan was made is not overwritten:
	// the next round applies it.
	stopPending := p.AllocationState == batch.AllocStopping && !plan.StopResize
	if st := plan.AllocationState(p); st != p.AllocationState && !stopPending {
		p.AllocationState, p.AllocationStateTransitionTime = st, batch.At(now)
		changed = true
	}
	if changed {
		p.ETag = etag(now)
		if plan.StopResize {
			p.LastModified = batch.At(now)
		}
	}
	return changed
}

// deletePool removes a deleting pool that has no nodes left: its consumer
// first, then its record (at the revision the scaler saw).
func (s *Scaler) deletePool(ctx context.Context, log *slog.Logger, ps *poolState) {
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := s.js.DeleteConsumer(octx, topology.TasksStream, topology.PoolConsumer(ps.account, ps.pool))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		log.ErrorContext(ctx, "delete pool consumer", "err", err)
		return
	}
	err = s.pools.Delete(octx, ps.key, jetstream.LastRevision(ps.rev))
	switch {
	case err == nil:
		log.InfoContext(ctx, "pool deleted")
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
	default:
		log.ErrorContext(ctx, "delete pool record", "err", err)
	}
}

// fileTimeEpoch is 1970-01-01 in .NET ticks (100 ns since 1601-01-01).
const fileTimeEpoch = 0x089F7FF5F7B58000

// etag is the eTag of an entity last modified at t: "0x" and the upper-case
// hex of t in .NET ticks, as Azure's look.
func etag(t time.Time) string {
	return fmt.Sprintf("0x%X", uint64(t.UnixNano()/100)+fileTimeEpoch)
}

func get(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return kv.Get(ctx, key)
}

func update(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return kv.Update(ctx, key, value, rev)
}
