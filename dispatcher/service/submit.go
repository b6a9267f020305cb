package service

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// runSubmit ingests the submit stream: tasks published to
// natch.submit.<account>.<job> are added as addtaskcollection would add
// them. The JetStream publish ack was the acceptance; a task that fails
// validation is recorded in the submit-errors bucket, where
// SubmitErrors shows it to the submitter.
func (s *Service) runSubmit(ctx context.Context) error {
	cons, err := s.js.Consumer(ctx, topology.SubmitStream, topology.SubmitConsumer)
	if err != nil {
		return err
	}
	return consumeBatches(ctx, cons, func(msgs []jetstream.Msg) { s.ingest(ctx, msgs) })
}

type submitted struct {
	task *batch.Task
	seq  uint64
	msg  jetstream.Msg
}

func (s *Service) ingest(ctx context.Context, msgs []jetstream.Msg) {
	type jobRef struct{ account, job string }
	groups := map[jobRef][]submitted{}
	var order []jobRef
	for _, m := range msgs {
		// natch.submit.<account>.<job>
		parts := strings.Split(m.Subject(), ".")
		if len(parts) != 4 {
			_ = m.Term()
			continue
		}
		ref := jobRef{parts[2], parts[3]}
		var t batch.Task
		meta, _ := m.Metadata()
		var seq uint64
		if meta != nil {
			seq = meta.Sequence.Stream
		}
		if err := batch.Decode(m.Data(), &t); err != nil {
			id := m.Headers().Get(jetstream.MsgIDHeader) // <account>/<job>/<task id>
			id = id[strings.LastIndexByte(id, '/')+1:]
			s.recordSubmitError(ctx, ref.account, ref.job, id, err)
			_ = m.Ack()
			continue
		}
		if _, ok := groups[ref]; !ok {
			order = append(order, ref)
		}
		groups[ref] = append(groups[ref], submitted{&t, seq, m})
	}
	for _, ref := range order {
		items := groups[ref]
		job, err := s.jobForAdd(ctx, ref.account, ref.job)
		if err != nil {
			for _, it := range items {
				s.recordSubmitError(ctx, ref.account, ref.job, it.task.ID, err)
				_ = it.msg.Ack()
			}
			continue
		}
		for start := 0; start < len(items); start += batch.MaxTasksPerCollection * 4 {
			chunk := items[start:min(start+batch.MaxTasksPerCollection*4, len(items))]
			tasks := make([]*batch.Task, len(chunk))
			seqs := make([]uint64, len(chunk))
			for i, it := range chunk {
				tasks[i], seqs[i] = it.task, it.seq
			}
			res := s.addTasks(ctx, ref.account, job, tasks, seqs)
			for i, r := range res {
				if r.err != nil {
					if be := batch.AsError(r.err); be.Status >= 500 {
						_ = chunk[i].msg.NakWithDelay(time.Second) // ours, not the task's: try again
						continue
					}
					s.recordSubmitError(ctx, ref.account, ref.job, chunk[i].task.ID, r.err)
				}
				_ = chunk[i].msg.Ack()
			}
		}
	}
}

// recordSubmitError keeps a failed fast-path add for the submitter to see.
func (s *Service) recordSubmitError(ctx context.Context, account, jobKey, taskID string, err error) {
	if taskID == "" || batch.ValidID("id", taskID) != nil {
		taskID = "invalid-id-" + NewUUID()[:8]
	}
	we := batch.AsError(err).Wire("", newRequestID(), s.st.Now())
	key := topology.TaskKey(account, batch.Key(jobKey), batch.Key(taskID))
	if _, perr := s.st.Submit.Put(ctx, key, &state.SubmitError{TaskID: taskID, Error: we}); perr != nil {
		s.log.ErrorContext(ctx, "record submit error", "key", key, "err", perr)
	}
}

// SubmitErrors lists the failed fast-path adds of a job.
func (s *Service) SubmitErrors(ctx context.Context, account, jobID string) ([]state.SubmitError, error) {
	if batch.ValidJobID("jobId", jobID) != nil {
		return nil, batch.ErrJobNotFound
	}
	es, err := s.st.Submit.List(ctx, topology.JobTaskKeys(account, batch.Key(jobID)))
	if err != nil {
		return nil, err
	}
	out := make([]state.SubmitError, 0, len(es))
	for _, e := range es {
		out = append(out, *e.Value)
	}
	return out, nil
}
