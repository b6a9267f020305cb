package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Multi-instance tasks (see shared/protocol/multiinstance.go for how their
// instances meet). The dispatcher queues the primary like any task and
// follows it through the primary's events; it touches the rendezvous only
// to read subtask information and wait reasons, and to end the rendezvous of
// a task terminated or deleted before it ran. Tasks without
// multiInstanceSettings never reach this file.

// multiInstance reports whether a task runs as more than one instance.
func multiInstance(t *batch.Task) bool {
	return t.MultiInstanceSettings != nil && t.MultiInstanceSettings.Instances() > 1
}

// checkMultiInstancePool checks that the job's pool can run a
// multi-instance task; pool caches the pool for the rest of an add.
func (s *Service) checkMultiInstancePool(ctx context.Context, account string, job *state.JobRecord, t *batch.Task, pool **batch.Pool) error {
	if t.MultiInstanceSettings == nil || job.PoolInfo == nil {
		return nil
	}
	poolID := job.PoolInfo.PoolID
	if poolID == "" {
		poolID = job.AutoPoolID // the job's auto pool
	}
	if poolID == "" {
		return nil
	}
	if *pool == nil {
		p, err := s.GetPool(ctx, account, poolID)
		if errors.Is(err, batch.ErrPoolNotFound) {
			return nil // a job may name a pool that does not exist yet
		}
		if err != nil {
			return err
		}
		*pool = p
	}
	return batch.ValidateMultiInstancePool(t, *pool)
}

// rendezvous returns the rendezvous bucket.
func (s *Service) rendezvous(ctx context.Context) (jetstream.KeyValue, error) {
	return s.js.KeyValue(ctx, topology.RendezvousBucket)
}

// readRendezvous reads the rendezvous of a task's current attempt; nil
// when there is none (the primary was not taken yet).
func (s *Service) readRendezvous(ctx context.Context, account, jobID string, t *state.TaskRecord) (*protocol.Rendezvous, error) {
	kv, err := s.rendezvous(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, topology.RendezvousKey(account, batch.Key(jobID), batch.Key(t.ID), t.Attempt))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r protocol.Rendezvous
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("decode rendezvous: %w", err)
	}
	return &r, nil
}

// ListSubtasks returns the subtasks of a multi-instance task's current
// attempt (none for other tasks, and none before the primary is taken).
func (s *Service) ListSubtasks(ctx context.Context, account, jobID, taskID string) ([]batch.SubtaskInformation, error) {
	t, err := s.GetTask(ctx, account, jobID, taskID)
	if err != nil {
		return nil, err
	}
	if !multiInstance(&t.Task) {
		return []batch.SubtaskInformation{}, nil
	}
	r, err := s.readRendezvous(ctx, account, jobID, t)
	if err != nil || r == nil {
		return []batch.SubtaskInformation{}, err
	}
	return r.Subtasks(), nil
}

// endMultiInstance makes sure nothing of an ended active multi-instance
// task runs: its queued subtasks are purged and its rendezvous ends, so
// that instances waiting in it leave. Best effort: an instance that misses
// it gives up at its rendezvous timeout.
func (s *Service) endMultiInstance(ctx context.Context, account, jobID string, t *state.TaskRecord) {
	if !multiInstance(&t.Task) {
		return
	}
	jobKey, taskKey := batch.Key(jobID), batch.Key(t.ID)
	if str, err := s.js.Stream(ctx, topology.TasksStream); err == nil {
		err = str.Purge(ctx, jetstream.WithPurgeSubject(topology.SubtasksFilter(account, t.PoolKey, jobKey, taskKey)))
		if err != nil {
			s.log.WarnContext(ctx, "purge queued subtasks", "task", t.ID, "err", err)
		}
	}
	kv, err := s.rendezvous(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "end rendezvous", "task", t.ID, "err", err)
		return
	}
	key := topology.RendezvousKey(account, jobKey, taskKey, t.Attempt)
	for range 10 {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return // nobody has joined
		}
		if err != nil {
			s.log.WarnContext(ctx, "end rendezvous", "task", t.ID, "err", err)
			return
		}
		var r protocol.Rendezvous
		if err := json.Unmarshal(e.Value(), &r); err != nil || !r.End(s.st.Now()) {
			return
		}
		b, err := json.Marshal(&r)
		if err != nil {
			return
		}
		_, err = kv.Update(ctx, key, b, e.Revision())
		if err == nil || !(errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)) {
			return
		}
	}
}

// purgeRendezvous removes a deleted job's rendezvous records.
func (s *Service) purgeRendezvous(ctx context.Context, account, jobKey string) error {
	str, err := s.js.Stream(ctx, "KV_"+topology.RendezvousBucket)
	if err != nil {
		return err
	}
	return str.Purge(ctx, jetstream.WithPurgeSubject("$KV."+topology.RendezvousBucket+"."+topology.JobRendezvousKeys(account, jobKey)))
}

// multiInstanceReason says why an active multi-instance task waits, when
// the reason is its instances: the pool has fewer usable nodes than the
// task has instances, its instances are meeting, or its last rendezvous
// did not fill in time.
func (w *Waits) multiInstanceReason(t *state.TaskRecord, p *poolLoad) *batch.WaitReason {
	if !multiInstance(&t.Task) {
		return nil
	}
	if p.usable == 0 {
		return nil // the pool's own reason (no nodes, resizing) says more
	}
	n := t.MultiInstanceSettings.Instances()
	if p.usable < n {
		return &batch.WaitReason{Code: WaitMultiInstanceNodes, Message: fmt.Sprintf(
			"The task needs %d nodes at once (numberOfInstances) but pool %s has %d usable node(s); it runs when the pool has enough.",
			n, p.pool.ID, p.usable)}
	}
	r, err := w.s.readRendezvous(w.ctx, w.account, w.job.ID, t)
	if err != nil || r == nil || r.Full() || r.Ended != nil {
		return nil
	}
	if r.Waiting == nil {
		return &batch.WaitReason{Code: WaitMultiInstanceNodes, Message: fmt.Sprintf(
			"The task needs %d nodes at once (numberOfInstances); %d of its instances have a node and wait for the others.",
			n, r.Joined())}
	}
	return &batch.WaitReason{Code: WaitMultiInstanceNodes, Message: fmt.Sprintf(
		"The task needs %d nodes at once (numberOfInstances); at %s only %d of its instances found a node before the rendezvous timed out, so they gave their nodes back and the task is queued again.",
		n, r.Waiting.At.UTC().Format(time.RFC3339), r.Waiting.Joined)}
}
