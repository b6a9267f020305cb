package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// releaseParallel bounds the nodes asked at once to run a job's release task.
const releaseParallel = 256

// releaseMargin is how much longer than the release task's maxWallClockTime
// the dispatcher waits for a node's answer.
const releaseMargin = 30 * time.Second

// ErrJobPrepNotSpecified is the 409 of listing the preparation and release
// task status of a job without a preparation task.
var ErrJobPrepNotSpecified = &batch.Error{Status: 409, Code: "JobPreparationTaskNotSpecified",
	Message: "The specified job does not have a job preparation task."}

// ListPrepReleaseStatus returns a job's preparation and release task
// states, one per node that ran the preparation task, in node key order.
func (s *Service) ListPrepReleaseStatus(ctx context.Context, account, jobID string) ([]state.Entry[protocol.JobPrepStatus], error) {
	job, err := s.GetJob(ctx, account, jobID)
	if err != nil {
		return nil, err
	}
	if job.JobPreparationTask == nil {
		return nil, ErrJobPrepNotSpecified
	}
	repo, err := s.st.JobPrep(ctx)
	if err != nil {
		return nil, err
	}
	return repo.List(ctx, topology.JobPrepKeys(account, batch.Key(job.ID)))
}

// holdsNode reports whether a task occupies a node: running, or preparing
// (waiting there for its job's preparation task).
func holdsNode(t *state.TaskRecord) bool {
	return t.State == batch.TaskRunning || t.State == batch.TaskPreparing
}

// releaseJob asks every node that ran an ending job's preparation task to
// run its release task (a node also forgets the job then), and waits for
// the answers, each at most the release task's maxWallClockTime and a
// margin. A node that is gone is skipped. The entries of a deleted job are
// removed afterwards.
func (s *Service) releaseJob(ctx context.Context, account string, rec *state.JobRecord) {
	if rec.JobPreparationTask == nil {
		return
	}
	log := s.log.With("account", account, "job", rec.ID)
	repo, err := s.st.JobPrep(ctx)
	if err != nil {
		log.ErrorContext(ctx, "job release: open the job preparation bucket", "err", err)
		return
	}
	entries, err := repo.List(ctx, topology.JobPrepKeys(account, batch.Key(rec.ID)))
	if err != nil {
		log.ErrorContext(ctx, "job release: list the nodes that prepared the job", "err", err)
		return
	}
	wait := batch.MaxJobReleaseWallClock
	if jr := rec.JobReleaseTask; jr != nil && jr.MaxWallClockTime != nil && jr.MaxWallClockTime.Std() < wait {
		wait = jr.MaxWallClockTime.Std()
	}
	body, err := json.Marshal(protocol.JobRelease{JobID: rec.ID, Release: rec.JobReleaseTask,
		Preparation: rec.JobPreparationTask, JobEnvironment: rec.CommonEnvironmentSettings})
	if err != nil {
		log.ErrorContext(ctx, "job release: encode", "err", err)
		return
	}
	bounded(releaseParallel, len(entries), func(i int) {
		st := entries[i].Value
		if st.Release != nil && st.Release.State == batch.StartTaskCompleted {
			return // released before (a teardown run again)
		}
		rctx, cancel := context.WithTimeout(ctx, wait+releaseMargin)
		defer cancel()
		reply, err := s.nc.RequestWithContext(rctx, topology.NodeSubject(account, batch.Key(st.NodeID), protocol.CmdJobRelease), body)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			log.DebugContext(ctx, "job release: node gone", "node", st.NodeID)
		case err != nil:
			log.WarnContext(ctx, "job release: no answer from node", "node", st.NodeID, "err", err)
		case reply.Header.Get(protocol.ErrorHeader) != "":
			log.DebugContext(ctx, "job release: node declined", "node", st.NodeID,
				"code", reply.Header.Get(protocol.ErrorHeader), "message", string(reply.Data))
		}
	})
	if rec.State == batch.JobDeleting {
		for _, e := range entries {
			if err := repo.Delete(ctx, e.Key); err != nil {
				log.WarnContext(ctx, "job release: delete status", "key", e.Key, "err", err)
			}
		}
	}
}
