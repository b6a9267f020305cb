package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// SubmitResult reports a SubmitTasks call.
type SubmitResult struct {
	// Accepted is how many tasks the submit stream acknowledged.
	Accepted int
	// Duplicates are the ids of tasks whose first publish the stream
	// acknowledged as a duplicate: a message with the same Nats-Msg-Id (the
	// task id) was already within the stream's duplicate window, so this
	// one was not stored again. Expected when a submission is repeated;
	// otherwise it means the task was NOT added: the window spans the whole
	// stream, so a task of another job (or account) with the same id
	// published within the window shadows it.
	Duplicates []string
}

// SubmitTasks is the submitters' fast path: it publishes each task as JSON
// to the job's submit subject (natch.submit.<account>.<job>) on the
// NATCH_SUBMIT stream with Nats-Msg-Id set to the task id, and returns when
// the stream has acknowledged every one. The JetStream ack is the
// acceptance: the dispatcher adds the tasks to the job from the stream, and
// a task it refuses (bad fields, an id that exists, a job that does not)
// shows up in SubmitErrors, not here.
//
// Publishes are asynchronous with at most NATSConfig.MaxInFlight awaiting
// their ack. Every ack is checked; a publish that fails (a stalled
// publisher, an ack timeout, a reconnect, a stream that is briefly
// unavailable) is retried with exponential backoff for up to
// NATSConfig.MaxRetryTime. Because the message id is the task id, a retry
// or a repeated SubmitTasks within the stream's duplicate window stores
// each task once.
//
// Task ids are checked before anything is sent (valid Azure ids, no id
// twice in one call). On error, some tasks may already have been accepted
// (SubmitResult.Accepted counts them); calling again with the same tasks is
// safe.
func (c *NATSClient) SubmitTasks(ctx context.Context, jobID string, tasks []batch.Task) (SubmitResult, error) {
	var res SubmitResult
	if err := checkSubmit(jobID, tasks); err != nil {
		return res, err
	}
	subject := topology.SubmitSubject(c.cfg.Account, batch.Key(jobID))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The publisher sends; the collector waits for the acks in order and
	// retries the failures. The channel, like the JetStream publisher's
	// own MaxPending, bounds the publishes in flight.
	inflight := make(chan *submission, c.cfg.MaxInFlight)
	var (
		wg         sync.WaitGroup
		collectErr error
	)
	wg.Go(func() {
		for s := range inflight {
			if collectErr != nil {
				continue // drain after a failure
			}
			ack, retried, err := c.awaitAck(ctx, s)
			if err != nil {
				collectErr = err
				cancel(err)
				continue
			}
			res.Accepted++
			if ack.Duplicate && !retried {
				res.Duplicates = append(res.Duplicates, s.taskID)
			}
		}
	})
	var pubErr error
publish:
	for i := range tasks {
		data, err := jsonMarshal(&tasks[i])
		if err != nil {
			pubErr = fmt.Errorf("submit task %q: encode: %w", tasks[i].ID, err)
			break
		}
		s := &submission{msgID: topology.SubmitMsgID(c.cfg.Account, jobID, tasks[i].ID), taskID: tasks[i].ID, subject: subject, data: data}
		if s.future, err = c.publish(ctx, s); err != nil {
			pubErr = err
			break
		}
		select {
		case inflight <- s:
		case <-ctx.Done():
			pubErr = context.Cause(ctx)
			break publish
		}
	}
	close(inflight)
	wg.Wait()
	if collectErr != nil {
		return res, collectErr
	}
	return res, pubErr
}

// checkSubmit refuses what would certainly fail or be lost: an invalid job
// or task id, or the same task id twice in one submission (the second would
// be dropped as a duplicate message).
func checkSubmit(jobID string, tasks []batch.Task) error {
	if err := batch.ValidID("jobId", jobID); err != nil {
		return fmt.Errorf("submit tasks: %w", err)
	}
	seen := make(map[string]struct{}, len(tasks))
	for i := range tasks {
		if err := batch.ValidID("id", tasks[i].ID); err != nil {
			return fmt.Errorf("submit tasks: task %d: %w", i, err)
		}
		k := batch.Key(tasks[i].ID)
		if _, dup := seen[k]; dup {
			return fmt.Errorf("submit tasks: %w", batch.InvalidProperty("id", fmt.Sprintf("task id %q appears more than once", tasks[i].ID)))
		}
		seen[k] = struct{}{}
	}
	return nil
}

// submission is one task on its way to the stream.
type submission struct {
	msgID   string // topology.SubmitMsgID
	taskID  string
	subject string
	data    []byte
	future  jetstream.PubAckFuture
}

// msg builds a fresh message for each attempt: JetStream refuses to publish
// a message twice.
func (s *submission) msg() *nats.Msg {
	m := nats.NewMsg(s.subject)
	m.Data = s.data
	m.Header.Set(jetstream.MsgIDHeader, s.msgID)
	return m
}

// publish starts an async publish, retrying with backoff while the
// publisher refuses it at once (too many stalled messages, a reconnect
// buffer that is full).
func (c *NATSClient) publish(ctx context.Context, s *submission) (jetstream.PubAckFuture, error) {
	f, err := backoff.RetryNotifyWithData(func() (jetstream.PubAckFuture, error) {
		f, err := c.js.PublishMsgAsync(s.msg())
		return f, classify(err)
	}, c.backoff(ctx), c.notify(ctx, s))
	if err != nil {
		return nil, fmt.Errorf("submit task %q: %w", s.taskID, unwrapPermanent(err))
	}
	return f, nil
}

// awaitAck waits for a submission's ack; if the publish failed it
// publishes again and waits, with backoff. retried reports whether the
// returned ack is from a later attempt.
func (c *NATSClient) awaitAck(ctx context.Context, s *submission) (ack *jetstream.PubAck, retried bool, err error) {
	ack, err = waitAck(ctx, s.future)
	if err == nil {
		return ack, false, nil
	}
	if err = classify(err); isPermanent(err) || ctx.Err() != nil {
		return nil, false, fmt.Errorf("submit task %q: %w", s.taskID, unwrapPermanent(err))
	}
	c.notify(ctx, s)(err, 0)
	ack, err = backoff.RetryNotifyWithData(func() (*jetstream.PubAck, error) {
		f, err := c.js.PublishMsgAsync(s.msg())
		if err != nil {
			return nil, classify(err)
		}
		ack, err := waitAck(ctx, f)
		return ack, classify(err)
	}, c.backoff(ctx), c.notify(ctx, s))
	if err != nil {
		return nil, true, fmt.Errorf("submit task %q: %w", s.taskID, unwrapPermanent(err))
	}
	return ack, true, nil
}

func waitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, backoff.Permanent(context.Cause(ctx))
	}
}

func (c *NATSClient) backoff(ctx context.Context) backoff.BackOffContext {
	return backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithMaxElapsedTime(c.cfg.MaxRetryTime)), ctx)
}

func (c *NATSClient) notify(ctx context.Context, s *submission) backoff.Notify {
	return func(err error, wait time.Duration) {
		c.log.WarnContext(ctx, "submit: publish failed, retrying", "task_id", s.taskID, "subject", s.subject,
			"retry_in", wait, "err", err)
	}
}

// classify marks the publish errors that retrying cannot fix as permanent;
// everything else (ErrTooManyStalledMsgs, ErrAsyncPublishTimeout,
// ErrNoStreamResponse, reconnects, a stream answering 503) is retried.
func classify(err error) error {
	if err == nil || isPermanent(err) {
		return err
	}
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrInvalidMsg),
		errors.Is(err, jetstream.ErrAsyncPublishReplySubjectSet):
		return backoff.Permanent(err)
	case errors.As(err, &apiErr) && apiErr.Code < http.StatusInternalServerError:
		return backoff.Permanent(err)
	}
	return err
}

func isPermanent(err error) bool {
	var p *backoff.PermanentError
	return errors.As(err, &p)
}

// SubmitError is a task that SubmitTasks published and the dispatcher then
// refused to add.
type SubmitError struct {
	// TaskID is the task's id.
	TaskID string
	// Err is why it was refused, e.g. TaskExists or InvalidPropertyValue.
	Err *batch.Error
}

// Error returns "task <id>: <code>: <message>".
func (e SubmitError) Error() string { return "task " + e.TaskID + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e SubmitError) Unwrap() error { return e.Err }

// SubmitErrors returns the tasks of a job that were submitted through
// SubmitTasks and refused by the dispatcher (op task.submiterrors). They stay
// listed for a week (topology.SubmitErrorTTL).
func (c *NATSClient) SubmitErrors(ctx context.Context, jobID string) ([]SubmitError, error) {
	return submitErrors(ctx, c, jobID)
}

// submitErrors reads and converts the submit errors of a job.
func submitErrors(ctx context.Context, t transport, jobID string) ([]SubmitError, error) {
	var body struct {
		Value []struct {
			TaskID string           `json:"taskId"`
			Error  *batch.WireError `json:"error"`
		} `json:"value"`
	}
	if err := t.roundTrip(ctx, ptr(opSubmitErrors(jobID)), &body); err != nil {
		return nil, err
	}
	out := make([]SubmitError, 0, len(body.Value))
	for _, v := range body.Value {
		e := fromWire(http.StatusBadRequest, v.Error)
		if e == nil {
			e = &batch.Error{Status: http.StatusBadRequest, Code: "Unknown", Message: "The task was refused."}
		}
		out = append(out, SubmitError{TaskID: v.TaskID, Err: e})
	}
	return out, nil
}
