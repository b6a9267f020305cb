package service

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// Reconcile repairs what a crash can leave behind, so that nothing accepted
// is lost: it resumes the teardown of terminating and deleting jobs,
// republishes active tasks whose ready message is missing (a crash between
// the record and the message), and recounts each unfinished job's task
// counts. Run it once when a dispatcher starts, before serving.
func (s *Service) Reconcile(ctx context.Context) error {
	es, err := s.st.Jobs.List(ctx, ">")
	if err != nil {
		return err
	}
	tasksStream, err := s.js.Stream(ctx, topology.TasksStream)
	if err != nil {
		return err
	}
	eventsStream, err := s.js.Stream(ctx, topology.EventsStream)
	if err != nil {
		return err
	}
	heldStream, err := s.js.Stream(ctx, topology.HeldStream)
	if err != nil {
		return err
	}
	// Events are kept after they are applied (limits retention): one is
	// pending when it is above the dispatcher consumer's ack floor.
	evCons, err := s.js.Consumer(ctx, topology.EventsStream, topology.EventsConsumer)
	if err != nil {
		return err
	}
	info, err := evCons.Info(ctx)
	if err != nil {
		return err
	}
	applied := info.AckFloor.Stream
	for _, e := range es {
		job := e.Value
		account, _, _ := cut(e.Key)
		switch job.State {
		case batch.JobTerminating, batch.JobDeleting:
			s.goTeardown(account, job)
			continue
		case batch.JobCompleted:
			continue
		}
		jobKey := batch.Key(job.ID)
		var c state.Counts
		var ferr error
		// Streamed, not listed: a job of a million tasks is read once, never held.
		err := s.st.Tasks.Scan(ctx, topology.JobTaskKeys(account, jobKey), 0, func(te state.Entry[state.TaskRecord]) bool {
			t := te.Value
			c.Add(state.CountOf(t))
			if t.State != batch.TaskActive || t.BlockedBy != "" {
				return true
			}
			if len(t.Waiting) > 0 {
				// A crash between a parent's outcome and this task's update:
				// apply the outcomes recorded since.
				if err := s.catchUpDeps(ctx, account, job, te.Key, t); err != nil {
					ferr = err
					return false
				}
				return true
			}
			taskKey := batch.Key(t.ID)
			if queued(ctx, tasksStream, topology.TaskSubject(account, t.PoolKey, jobKey, taskKey), 0) ||
				queued(ctx, eventsStream, topology.EventSubject(account, jobKey, taskKey), applied) ||
				(s.held(account, job) && queued(ctx, heldStream, topology.HeldSubject(account, jobKey, taskKey), 0)) {
				return true
			}
			msg, err := s.readyMsg(ctx, account, job, t)
			if err == nil {
				_, err = s.publish(ctx, msg)
			}
			if err != nil {
				ferr = err
				return false
			}
			s.log.InfoContext(ctx, "republished a lost ready task", "job", job.ID, "task", t.ID)
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		if s.held(account, job) && job.State == batch.JobActive {
			s.kickGate(account, jobKey)
		}
		if old, _, err := s.st.Counts.Get(ctx, e.Key); err == nil {
			c.Usage = old.Usage // what ended attempts used is not in the task records
		}
		if _, err := s.st.Counts.Put(ctx, e.Key, &c); err != nil {
			return err
		}
	}
	return nil
}

// catchUpDeps registers a waiting task again (a crash may have cut its
// registration short) and resolves the dependencies whose parents ended
// meanwhile (a crash between a parent's outcome and this task's update).
// Registering is idempotent.
func (s *Service) catchUpDeps(ctx context.Context, account string, job *state.JobRecord, key string, t *state.TaskRecord) error {
	for _, err := range s.registerDeps(ctx, account, job, map[string]*state.TaskRecord{key: t}) {
		return err
	}
	return nil
}

// queued reports whether a stream holds a message on subject above the
// sequence after (0: any). An error other than "no message" counts as
// queued: when in doubt, do not publish again.
func queued(ctx context.Context, str jetstream.Stream, subject string, after uint64) bool {
	m, err := str.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return !errors.Is(err, jetstream.ErrMsgNotFound)
	}
	return m.Sequence > after
}

func cut(key string) (account, rest string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}
