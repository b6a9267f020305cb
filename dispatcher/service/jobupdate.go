package service

import (
	"context"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// PatchJob changes a job's priority, maxParallelTasks, allowTaskPreemption,
// constraints, poolInfo, onAllTasksComplete and metadata: patch (replace
// false) changes what p supplies; update (replace true) sets every one of
// them, an omitted one going back to its default. As in Azure, the pool
// may change only while the job is disabled (its active tasks then run on
// the new pool when it is enabled), and onAllTasksComplete may not go back
// from terminatejob to noaction.
func (s *Service) PatchJob(ctx context.Context, account, id string, p *batch.JobPatch, replace bool, cond Condition) (*state.JobRecord, error) {
	if batch.ValidJobID("jobId", id) != nil {
		return nil, batch.ErrJobNotFound
	}
	if err := batch.ValidateJobPatch(p, replace); err != nil {
		return nil, err
	}
	var pool *batch.Pool
	if p.PoolInfo != nil {
		var err error
		if pool, err = s.GetPool(ctx, account, p.PoolInfo.PoolID); err != nil {
			return nil, err
		}
	}
	key := topology.JobKey(account, batch.Key(id))
	rec, _, err := s.st.Jobs.Update(ctx, key, func(j *state.JobRecord) error {
		if err := cond.Check(j.ETag, j.LastModified); err != nil {
			return err
		}
		if err := jobNotEnding(j); err != nil {
			return err
		}
		if pool != nil && batch.Key(pool.ID) != j.PoolKey {
			if j.State != batch.JobDisabled {
				return batch.Errorf(409, "JobNotDisabled", "The pool of a job may change only while the job is disabled.").With("PropertyName", "poolInfo")
			}
			if pool.State == batch.PoolDeleting {
				return batch.Errorf(409, "PoolBeingDeleted", "The specified pool is being deleted.").With("PropertyName", "poolInfo")
			}
			j.PoolInfo = &batch.PoolInformation{PoolID: pool.ID}
			j.PoolKey = batch.Key(pool.ID)
			if j.ExecutionInfo == nil {
				j.ExecutionInfo = &batch.JobExecutionInformation{}
			}
			j.ExecutionInfo.PoolID = pool.ID
		}
		onAll := p.OnAllTasksComplete
		if replace && onAll == "" {
			onAll = batch.OnAllTasksNoAction
		}
		if onAll != "" {
			if j.OnAllTasksComplete == batch.OnAllTasksTerminate && onAll == batch.OnAllTasksNoAction {
				return batch.InvalidProperty("onAllTasksComplete", "may not change from terminatejob to noaction")
			}
			j.OnAllTasksComplete = onAll
		}
		switch {
		case p.Priority != nil:
			j.Priority = p.Priority
		case replace:
			j.Priority = batch.Int(0)
		}
		switch {
		case p.MaxParallelTasks != nil:
			j.MaxParallelTasks = p.MaxParallelTasks
		case replace:
			j.MaxParallelTasks = batch.Int(-1)
		}
		switch {
		case p.AllowTaskPreemption != nil:
			j.AllowTaskPreemption = p.AllowTaskPreemption
		case replace:
			j.AllowTaskPreemption = batch.Bool(false)
		}
		if p.Constraints != nil || replace {
			c := batch.JobConstraints{}
			if p.Constraints != nil {
				c = *p.Constraints
			}
			if c.MaxWallClockTime == nil {
				inf := batch.Infinite
				c.MaxWallClockTime = &inf
			}
			if c.MaxTaskRetryCount == nil {
				c.MaxTaskRetryCount = batch.Int(0)
			}
			j.Constraints = &c
		}
		if p.Metadata != nil || replace {
			j.Metadata = p.Metadata
		}
		j.ETag, j.LastModified = s.st.Stamp()
		return nil
	})
	s.jobs.del(key)
	if err == nil && (p.Priority != nil || replace) {
		if serr := s.sweepPriorities(ctx); serr != nil {
			s.log.WarnContext(ctx, "job priorities", "err", serr)
		}
	}
	if err == nil && (gated(rec) || (p.MaxParallelTasks != nil && *p.MaxParallelTasks == -1) || replace) {
		// A new limit: release what it allows (all, when the limit is gone).
		s.kickGate(account, batch.Key(rec.ID))
	}
	return rec, err
}
