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
		tasks, err := s.st.Tasks.List(ctx, topology.JobTaskKeys(account, jobKey))
		if err != nil {
			return err
		}
		var c state.Counts
		for _, te := range tasks {
			t := te.Value
			c.Add(state.CountOf(t))
			if t.State != batch.TaskActive {
				continue
			}
			taskKey := batch.Key(t.ID)
			if queued(ctx, tasksStream, topology.TaskSubject(account, t.PoolKey, jobKey, taskKey)) ||
				queued(ctx, eventsStream, topology.EventSubject(account, jobKey, taskKey)) {
				continue
			}
			msg, err := taskMsg(account, job, t)
			if err != nil {
				return err
			}
			if _, err := s.publish(ctx, msg); err != nil {
				return err
			}
			s.log.InfoContext(ctx, "republished a lost ready task", "job", job.ID, "task", t.ID)
		}
		if _, err := s.st.Counts.Put(ctx, e.Key, &c); err != nil {
			return err
		}
	}
	return nil
}

// queued reports whether a stream holds a message on subject.
func queued(ctx context.Context, str jetstream.Stream, subject string) bool {
	_, err := str.GetLastMsgForSubject(ctx, subject)
	return err == nil || !errors.Is(err, jetstream.ErrMsgNotFound)
}

func cut(key string) (account, rest string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}
