package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Dropping queued tasks (protocol.DropQueued). A task this node took from
// the pool's queue and holds for a slot (prefetch.go) is out of reach of
// the dispatcher's purge when its job is terminated, deleted or disabled,
// or the task itself is terminated or deleted. The dispatcher then
// publishes a DropQueued to every node of the pool: the node takes the
// matching tasks out of its queue, acknowledges their messages and forgets
// them, without an event (the dispatcher has already recorded what became
// of them). It keeps the rule for protocol.DropQueuedTTL and applies it to
// the tasks it takes meanwhile (a delivery on its way when the command
// came), but only to messages at or below the queue sequence the command
// names, so a task queued again afterwards runs. Instances of multi-instance
// tasks are left to their rendezvous.

// dropRule is a DropQueued a node applies for a while.
type dropRule struct {
	job, task string // keys; task "" matches every task of the job
	upTo      uint64
	until     time.Time
}

// matches reports whether the rule drops a message of the given task.
func (r dropRule) matches(job, task string, seq uint64, now time.Time) bool {
	return now.Before(r.until) && r.job == job && (r.task == "" || r.task == task) && seq != 0 && seq <= r.upTo
}

// onDropQueued serves a DropQueued: it drops the matching queued tasks.
func (w *Worker) onDropQueued(m *nats.Msg) {
	var req protocol.DropQueued
	if err := json.Unmarshal(m.Data, &req); err != nil || req.JobID == "" {
		w.log.Warn("ignoring an invalid drop-queued command", "err", err)
		return
	}
	now := time.Now()
	rule := dropRule{job: batch.Key(req.JobID), task: batch.Key(req.TaskID), upTo: req.UpToSeq, until: now.Add(protocol.DropQueuedTTL)}
	w.mu.Lock()
	rules := w.drops[:0]
	for _, r := range w.drops {
		if now.Before(r.until) {
			rules = append(rules, r)
		}
	}
	w.drops = append(rules, rule)
	queue := w.pf.queue[:0:0]
	var dropped []*task
	for _, t := range w.pf.queue {
		if t.mi == nil && t.pending == nil && rule.matches(batch.Key(t.tm.JobID), batch.Key(t.tm.Task.ID), t.msg.StreamSeq(), now) {
			dropped = append(dropped, t)
			delete(w.held, t)
			w.pf.queuedSlots -= t.slots
			continue
		}
		queue = append(queue, t)
	}
	w.pf.queue = queue
	w.mu.Unlock()
	if len(dropped) == 0 {
		return
	}
	signal(w.pf.wake)
	for _, t := range dropped {
		w.ackDropped(t.msg, t.tm)
	}
}

// droppedLocked reports whether a task being queued matches a drop rule;
// w.mu is held. The rule's scan of the queue and this check take the same
// lock, so a task is either in the queue when a rule comes or checked
// against it when it is queued.
func (w *Worker) droppedLocked(t *task) bool {
	if t.mi != nil || len(w.drops) == 0 {
		return false
	}
	job, tk, seq, now := batch.Key(t.tm.JobID), batch.Key(t.tm.Task.ID), t.msg.StreamSeq(), time.Now()
	for _, r := range w.drops {
		if r.matches(job, tk, seq, now) {
			return true
		}
	}
	return false
}

// ackDropped acknowledges a dropped task's message.
func (w *Worker) ackDropped(msg taskMsg, tm protocol.TaskMessage) {
	if err := msg.Ack(); err != nil {
		w.log.WarnContext(context.Background(), "ack a dropped task", "job_id", tm.JobID, "task_id", tm.Task.ID, "err", err)
	}
	w.log.Debug("queued task dropped: its job or the task ended", "job_id", tm.JobID, "task_id", tm.Task.ID)
}
