package service

import (
	"context"
	"errors"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// AddPool creates a pool. The scaler brings its nodes up to the targets.
func (s *Service) AddPool(ctx context.Context, account string, p *batch.Pool) (*batch.Pool, error) {
	if err := batch.ValidatePoolAdd(p); err != nil {
		return nil, err
	}
	if err := validateAutoScalePool(p); err != nil {
		return nil, err
	}
	if _, err := s.ResolvePackages(ctx, account, "applicationPackageReferences", p.ApplicationPackageReferences); err != nil {
		return nil, err
	}
	now := batch.At(s.st.Now())
	etag, lm := s.st.Stamp()
	p.URL, p.ETag, p.LastModified, p.CreationTime = "", etag, lm, now
	p.State, p.StateTransitionTime = batch.PoolActive, now
	p.AllocationState, p.AllocationStateTransitionTime = batch.AllocSteady, now
	if batch.IntOr(p.TargetDedicatedNodes, 0)+batch.IntOr(p.TargetLowPriorityNodes, 0) > 0 {
		p.AllocationState = batch.AllocResizing
	}
	p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes = batch.Int(0), batch.Int(0)
	p.ResizeErrors, p.AutoScaleRun, p.Stats = nil, nil, nil
	if p.TargetNodeCommunicationMode == "" {
		p.TargetNodeCommunicationMode = "default"
	}
	p.CurrentNodeCommunicationMode = "simplified"
	// The queue first: a pool whose record exists always has its consumer.
	pack := p.TaskSchedulingPolicy != nil && batch.EqualFold(p.TaskSchedulingPolicy.NodeFillType, "pack")
	if _, err := topology.EnsurePoolConsumer(ctx, s.js, account, batch.Key(p.ID), s.cfg.AckWait, pack); err != nil {
		return nil, wrap("add pool", err)
	}
	if _, err := s.st.Pools.Create(ctx, topology.PoolKey(account, batch.Key(p.ID)), p); err != nil {
		return nil, wrap("add pool", err)
	}
	return p, nil
}

// GetPool returns a pool.
func (s *Service) GetPool(ctx context.Context, account, id string) (*batch.Pool, error) {
	if err := batch.ValidID("poolId", id); err != nil {
		return nil, batch.ErrPoolNotFound
	}
	p, _, err := s.st.Pools.Get(ctx, topology.PoolKey(account, batch.Key(id)))
	return p, err
}

// ListPools returns the account's pools in id order.
func (s *Service) ListPools(ctx context.Context, account string) ([]*batch.Pool, error) {
	es, err := s.st.Pools.List(ctx, account+".*")
	if err != nil {
		return nil, err
	}
	out := make([]*batch.Pool, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, nil
}

// DeletePool marks a pool deleting; the scaler stops its nodes and removes it.
func (s *Service) DeletePool(ctx context.Context, account, id string, cond Condition) error {
	if err := batch.ValidID("poolId", id); err != nil {
		return batch.ErrPoolNotFound
	}
	_, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(p *batch.Pool) error {
		if err := cond.Check(p.ETag, p.LastModified); err != nil {
			return err
		}
		if p.State == batch.PoolDeleting {
			return state.ErrStop
		}
		now := batch.At(s.st.Now())
		p.ETag, p.LastModified = s.st.Stamp()
		p.State, p.StateTransitionTime = batch.PoolDeleting, now
		return nil
	})
	return err
}

// ResizePool changes a pool's target node counts.
func (s *Service) ResizePool(ctx context.Context, account, id string, r *batch.PoolResize, cond Condition) error {
	if err := batch.ValidID("poolId", id); err != nil {
		return batch.ErrPoolNotFound
	}
	if err := batch.ValidateResize(r); err != nil {
		return err
	}
	_, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(p *batch.Pool) error {
		if err := cond.Check(p.ETag, p.LastModified); err != nil {
			return err
		}
		switch {
		case p.State == batch.PoolDeleting:
			return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
		case p.EnableAutoScale != nil && *p.EnableAutoScale:
			return batch.Errorf(409, "PoolIsAutoScaleEnabled", "The specified pool has autoscale enabled; disable it before resizing manually.")
		case p.AllocationState == batch.AllocStopping:
			return batch.Errorf(409, "PoolBeingResized", "The specified pool is already being resized.")
		}
		now := batch.At(s.st.Now())
		p.ETag, p.LastModified = s.st.Stamp()
		if r.TargetDedicatedNodes != nil {
			p.TargetDedicatedNodes = r.TargetDedicatedNodes
		}
		if r.TargetLowPriorityNodes != nil {
			p.TargetLowPriorityNodes = r.TargetLowPriorityNodes
		}
		if r.ResizeTimeout != nil {
			p.ResizeTimeout = r.ResizeTimeout
		}
		p.NodeDeallocationOption = r.NodeDeallocationOption
		p.ResizeErrors = nil
		if p.AllocationState != batch.AllocResizing {
			p.AllocationState, p.AllocationStateTransitionTime = batch.AllocResizing, now
		}
		return nil
	})
	return err
}

// ListNodes returns a pool's compute nodes.
func (s *Service) ListNodes(ctx context.Context, account, poolID string) ([]*batch.ComputeNode, error) {
	if _, err := s.GetPool(ctx, account, poolID); err != nil {
		return nil, err
	}
	es, err := s.st.Nodes.List(ctx, topology.PoolNodeKeys(account, batch.Key(poolID)))
	if err != nil {
		return nil, err
	}
	out := make([]*batch.ComputeNode, len(es))
	for i, e := range es {
		out[i] = &e.Value.ComputeNode
	}
	return out, nil
}

// GetNode returns a compute node.
func (s *Service) GetNode(ctx context.Context, account, poolID, nodeID string) (*batch.ComputeNode, error) {
	if _, err := s.GetPool(ctx, account, poolID); err != nil {
		return nil, err
	}
	if batch.ValidID("nodeId", nodeID) != nil {
		return nil, batch.ErrNodeNotFound
	}
	n, _, err := s.st.Nodes.Get(ctx, topology.NodeKey(account, batch.Key(poolID), batch.Key(nodeID)))
	if err != nil {
		return nil, err
	}
	return &n.ComputeNode, nil
}

// ErrPreconditionFailed is returned (as a *batch.Error) when a conditional
// header does not hold.
var ErrPreconditionFailed = &batch.Error{Status: 412, Code: "ConditionNotMet", Message: "The condition specified using HTTP conditional header(s) is not met."}

// Condition holds a write's conditional headers (If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since). The zero value always holds.
type Condition struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   *batch.Time
	IfUnmodifiedSince *batch.Time
}

// Check reports ErrPreconditionFailed unless the entity's ETag and
// lastModified satisfy the condition.
func (c Condition) Check(etag string, lastModified *batch.Time) error {
	if c.IfMatch != "" && c.IfMatch != "*" && c.IfMatch != etag {
		return ErrPreconditionFailed
	}
	if c.IfNoneMatch != "" && (c.IfNoneMatch == "*" || c.IfNoneMatch == etag) {
		return ErrPreconditionFailed
	}
	if lastModified != nil {
		lm := lastModified.Truncate(1e9)
		if c.IfModifiedSince != nil && !lm.After(c.IfModifiedSince.Time) {
			return ErrPreconditionFailed
		}
		if c.IfUnmodifiedSince != nil && lm.After(c.IfUnmodifiedSince.Time) {
			return ErrPreconditionFailed
		}
	}
	return nil
}

// IsPrecondition reports whether err is a failed condition.
func IsPrecondition(err error) bool { return errors.Is(err, ErrPreconditionFailed) }

// PatchPool changes the pool properties that p supplies (startTask,
// metadata, applicationPackageReferences, certificateReferences,
// targetNodeCommunicationMode); replace (updateProperties) replaces all of
// them, an omitted one being cleared. A new start task runs on nodes that
// join afterwards.
func (s *Service) PatchPool(ctx context.Context, account, id string, p *batch.PoolPatch, replace bool, cond Condition) (*batch.Pool, error) {
	if err := batch.ValidID("poolId", id); err != nil {
		return nil, batch.ErrPoolNotFound
	}
	if err := batch.ValidatePoolPatch(p); err != nil {
		return nil, err
	}
	if _, err := s.ResolvePackages(ctx, account, "applicationPackageReferences", p.ApplicationPackageReferences); err != nil {
		return nil, err
	}
	if replace {
		switch {
		case p.CertificateReferences == nil:
			return nil, batch.MissingProperty("certificateReferences")
		case p.ApplicationPackageReferences == nil:
			return nil, batch.MissingProperty("applicationPackageReferences")
		case p.Metadata == nil:
			return nil, batch.MissingProperty("metadata")
		}
	}
	pool, _, err := s.st.Pools.Update(ctx, topology.PoolKey(account, batch.Key(id)), func(cur *batch.Pool) error {
		if err := cond.Check(cur.ETag, cur.LastModified); err != nil {
			return err
		}
		if cur.State == batch.PoolDeleting {
			return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.")
		}
		if replace || p.StartTask != nil {
			cur.StartTask = p.StartTask
		}
		if replace || p.CertificateReferences != nil {
			cur.CertificateReferences = emptyRaw(p.CertificateReferences)
		}
		if replace || p.ApplicationPackageReferences != nil {
			cur.ApplicationPackageReferences = nilIfEmpty(p.ApplicationPackageReferences)
		}
		if replace || p.Metadata != nil {
			cur.Metadata = nilIfEmpty(p.Metadata)
		}
		switch {
		case p.TargetNodeCommunicationMode != "":
			cur.TargetNodeCommunicationMode = p.TargetNodeCommunicationMode
		case replace:
			cur.TargetNodeCommunicationMode = "default"
		}
		cur.ETag, cur.LastModified = s.st.Stamp()
		return nil
	})
	return pool, err
}

// emptyRaw drops an empty JSON array, as Azure shows no empty list.
func emptyRaw(r batch.Raw) batch.Raw {
	if string(r) == "[]" || string(r) == "null" {
		return nil
	}
	return r
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
