package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// maxParallelTasks.
//
// The ready tasks of a job with maxParallelTasks N go to the held stream
// (natch.held.<account>.<job>.<task>) instead of their pool's queue, and
// the dispatcher releases them, oldest first, while fewer than N of the
// job's tasks are in the pool's queue. That count needs no bookkeeping: the
// pool's queue is a work-queue stream whose messages stay until the worker
// acknowledges them when the task ends, so the job's messages there are
// exactly its queued and running tasks (a retry or a requeue is still one
// of them), and a crash loses no count. Releases run after tasks are added,
// after a task of the job ends, and at start. Within a dispatcher they are
// serialized per job; two dispatchers releasing for the same job at the same
// instant may overshoot N by one task each. Jobs without the limit never
// touch any of this.

// gated reports whether a job's tasks pass its maxParallelTasks gate.
func gated(j *state.JobRecord) bool { return j.MaxParallelTasks != nil && *j.MaxParallelTasks > 0 }

// held reports whether a job's ready tasks wait in the held stream: it has
// maxParallelTasks, or its pool releases tasks by job priority.
func (s *Service) held(account string, j *state.JobRecord) bool {
	return gated(j) || s.priorityPool(account, j)
}

// readyMsg is the message that queues a task that is ready to run: for a
// gated job into the held stream, otherwise straight into its pool's queue.
// Retries of a released task use taskMsg.
func (s *Service) readyMsg(ctx context.Context, account string, job *state.JobRecord, t *state.TaskRecord) (*nats.Msg, error) {
	m, err := s.taskMsg(ctx, account, job, t)
	if err != nil || !s.held(account, job) {
		return m, err
	}
	m.Subject = topology.HeldSubject(account, batch.Key(job.ID), batch.Key(t.ID))
	return m, nil
}

// pumper runs at most one release loop per job at a time; a kick during a
// loop makes it run once more.
type pumper struct {
	mu      sync.Mutex
	running map[string]bool
	again   map[string]bool
	cons    sync.Map // job key → jetstream.Consumer of its held tasks
}

// kickGate releases what a job's gate allows, in the background.
func (s *Service) kickGate(account, jobKey string) {
	s.runOnce("job:"+topology.JobKey(account, jobKey), func(ctx context.Context) error { return s.pump(ctx, account, jobKey) })
}

// kickGateAfterEnd kicks a job's gate for tasks that just ended, and once
// more shortly after: a worker acknowledges a task's message (which takes
// it out of the pool's queue, where the gate counts it) right after its
// report, so the first count may still see it. The priority sweep kicks
// every gated job each second as well, so nothing waits longer than that.
func (s *Service) kickGateAfterEnd(account, jobKey string) {
	s.kickGate(account, jobKey)
	time.AfterFunc(100*time.Millisecond, func() { s.kickGate(account, jobKey) })
}

// runOnce runs f in the background, at most one at a time per key; a call
// while one runs makes it run once more afterwards.
func (s *Service) runOnce(key string, f func(ctx context.Context) error) {
	if s.bgCtx.Err() != nil {
		return // shutting down
	}
	p := &s.gates
	p.mu.Lock()
	if p.running == nil {
		p.running, p.again = map[string]bool{}, map[string]bool{}
	}
	if p.running[key] {
		p.again[key] = true
		p.mu.Unlock()
		return
	}
	p.running[key] = true
	p.mu.Unlock()
	s.bg.Go(func() {
		for {
			ctx, cancel := context.WithTimeout(s.bgCtx, time.Minute)
			err := f(ctx)
			cancel()
			if err != nil && s.bgCtx.Err() == nil {
				s.log.Error("release held tasks", "of", key, "err", err)
			}
			p.mu.Lock()
			if p.again[key] && s.bgCtx.Err() == nil {
				p.again[key] = false
				p.mu.Unlock()
				continue
			}
			delete(p.running, key)
			delete(p.again, key)
			p.mu.Unlock()
			return
		}
	})
}

// heldConsumer returns a job's consumer of held tasks, creating it once.
func (s *Service) heldConsumer(ctx context.Context, account, jobKey string) (jetstream.Consumer, error) {
	key := topology.JobKey(account, jobKey)
	if c, ok := s.gates.cons.Load(key); ok {
		return c.(jetstream.Consumer), nil
	}
	c, err := s.js.CreateOrUpdateConsumer(ctx, topology.HeldStream, jetstream.ConsumerConfig{
		Durable: topology.HeldConsumer(account, jobKey), FilterSubject: topology.JobHeldFilter(account, jobKey),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxDeliver: -1,
	})
	if err != nil {
		return nil, err
	}
	s.gates.cons.Store(key, c)
	return c, nil
}

// pump releases held tasks of a job while fewer than its maxParallelTasks
// are in its pool's queue. A job that lost its limit releases all.
func (s *Service) pump(ctx context.Context, account, jobKey string) error {
	job, _, err := s.st.Jobs.Get(ctx, topology.JobKey(account, jobKey))
	if errors.Is(err, batch.ErrJobNotFound) {
		return nil
	}
	if err != nil || job.State != batch.JobActive {
		return err
	}
	if s.priorityPool(account, job) {
		s.kickPool(topology.PoolKey(account, job.PoolKey)) // the pool's pump decides, by priority
		return nil
	}
	cons, err := s.heldConsumer(ctx, account, jobKey)
	if err != nil {
		return err
	}
	free := -1 // unlimited
	if gated(job) {
		n, err := s.inFlight(ctx, account, job)
		if err != nil {
			return err
		}
		free = *job.MaxParallelTasks - n
	}
	for ; free != 0; free-- {
		released, err := s.releaseOne(ctx, cons, job, account, jobKey)
		if err != nil || !released {
			return err
		}
	}
	return nil
}

// releaseOne moves the oldest held task of a job that is still active to
// its pool's queue. It reports false when nothing is held.
func (s *Service) releaseOne(ctx context.Context, cons jetstream.Consumer, job *state.JobRecord, account, jobKey string) (bool, error) {
	for {
		batchOf, err := cons.FetchNoWait(1)
		if err != nil {
			return false, err
		}
		var m jetstream.Msg
		for msg := range batchOf.Messages() {
			m = msg
		}
		if err := batchOf.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return false, err
		}
		if m == nil {
			return false, nil
		}
		taskKey := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
		t, _, err := s.st.Tasks.Get(ctx, topology.TaskKey(account, jobKey, taskKey))
		if errors.Is(err, batch.ErrTaskNotFound) || (err == nil && !t.Ready()) {
			_ = m.Ack() // deleted, ended or running meanwhile: nothing to release
			continue
		}
		if err != nil {
			_ = m.Nak()
			return false, err
		}
		out := nats.NewMsg(topology.TaskSubject(account, t.PoolKey, jobKey, taskKey))
		out.Data = m.Data()
		out.Header.Set(jetstream.MsgIDHeader, m.Headers().Get(jetstream.MsgIDHeader))
		if _, err := s.publish(ctx, out); err != nil {
			_ = m.Nak()
			return false, err
		}
		if err := m.DoubleAck(ctx); err != nil {
			s.log.WarnContext(ctx, "ack a released task", "job", job.ID, "task", t.ID, "err", err)
		}
		return true, nil
	}
}

// removeGate deletes an ended job's held tasks and their consumer.
func (s *Service) removeGate(ctx context.Context, account, jobKey string) error {
	s.gates.cons.Delete(topology.JobKey(account, jobKey))
	err := s.js.DeleteConsumer(ctx, topology.HeldStream, topology.HeldConsumer(account, jobKey))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		err = nil
	}
	str, serr := s.js.Stream(ctx, topology.HeldStream)
	if serr == nil {
		serr = str.Purge(ctx, jetstream.WithPurgeSubject(topology.JobHeldFilter(account, jobKey)))
	}
	return errors.Join(err, serr)
}

// purgeHeld removes a task's held message, if it has one.
func (s *Service) purgeHeld(ctx context.Context, account, jobKey, taskKey string) error {
	str, err := s.js.Stream(ctx, topology.HeldStream)
	if err != nil {
		return err
	}
	return str.Purge(ctx, jetstream.WithPurgeSubject(topology.HeldSubject(account, jobKey, taskKey)))
}

// kickIfGated releases what a gated job's gate allows now (a task of it
// ended or went away).
func (s *Service) kickIfGated(ctx context.Context, account, jobID string) {
	if job, err := s.jobs.get(ctx, s, account, batch.Key(jobID)); err == nil && s.held(account, job) {
		s.kickGate(account, batch.Key(jobID))
	}
}

// inFlight is the number of a job's tasks in its pool's queue: queued or
// running.
func (s *Service) inFlight(ctx context.Context, account string, job *state.JobRecord) (int, error) {
	return s.queuedTasks(ctx, topology.JobTasksFilter(account, job.PoolKey, batch.Key(job.ID)))
}

// queuedTasks counts the messages of the pools' queue (the work-queue
// stream NATCH_TASKS) on subjects matching filter: tasks queued, and tasks
// delivered and not yet acknowledged (running).
func (s *Service) queuedTasks(ctx context.Context, filter string) (int, error) {
	str, err := s.js.Stream(ctx, topology.TasksStream)
	if err != nil {
		return 0, err
	}
	info, err := str.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}
