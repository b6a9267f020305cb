package service

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// eventBatch is the most events applied together. Events of one task in a
// batch cost one KV read and one compare-and-set.
const eventBatch = 512

// runEvents consumes task events and applies them to task state.
func (s *Service) runEvents(ctx context.Context) error {
	cons, err := s.js.Consumer(ctx, topology.EventsStream, topology.EventsConsumer)
	if err != nil {
		return err
	}
	return consumeBatches(ctx, cons, func(msgs []jetstream.Msg) { s.applyEvents(ctx, msgs) })
}

// consumeBatches pulls messages and hands them to apply in batches: the
// first message blocks, then whatever else has arrived (up to eventBatch).
func consumeBatches(ctx context.Context, cons jetstream.Consumer, apply func([]jetstream.Msg)) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * eventBatch))
	if err != nil {
		return err
	}
	ch := make(chan jetstream.Msg, eventBatch)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ch)
		for {
			m, err := it.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
					return
				}
				continue
			}
			select {
			case ch <- m:
			case <-ctx.Done():
				return
			}
		}
	})
	defer wg.Wait()
	defer it.Stop()
	for {
		var msgs []jetstream.Msg
		select {
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			msgs = append(msgs, m)
		case <-ctx.Done():
			return nil
		}
	drain:
		for len(msgs) < eventBatch {
			select {
			case m, ok := <-ch:
				if !ok {
					break drain
				}
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		apply(msgs)
	}
}

type eventMsg struct {
	ev  protocol.TaskEvent
	msg int // index of the message that brought it in its batch
}

// Outcomes of a message of events: it is acknowledged once every event it
// brought is applied, and redelivered after the longest delay any of them
// asks for.
const (
	msgAck = iota
	msgLater
	msgFailed
)

// decodeEvents reads a message of the events stream: one TaskEvent, or a
// worker's batch (protocol.EventBatchHeader). ok is false for a malformed
// message.
func decodeEvents(m jetstream.Msg) (evs []protocol.TaskEvent, ok bool) {
	if h := m.Headers(); h != nil && h.Get(protocol.EventBatchHeader) != "" {
		var b protocol.TaskEventBatch
		if err := json.Unmarshal(m.Data(), &b); err != nil || len(b.Events) == 0 {
			return nil, false
		}
		for i := range b.Events {
			if b.Events[i].JobID == "" || b.Events[i].TaskID == "" {
				return nil, false
			}
		}
		return b.Events, true
	}
	var ev protocol.TaskEvent
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.JobID == "" || ev.TaskID == "" {
		return nil, false
	}
	return []protocol.TaskEvent{ev}, true
}

// applyEvents applies a batch of messages of events: grouped by task, each
// task's events in one read-modify-CAS, tasks in parallel.
func (s *Service) applyEvents(ctx context.Context, msgs []jetstream.Msg) {
	groups := map[string][]eventMsg{}
	var keys []string
	outcome := make([]int, len(msgs))
	for i, m := range msgs {
		evs, ok := decodeEvents(m)
		if !ok {
			s.log.WarnContext(ctx, "drop malformed event", "subject", m.Subject())
			_ = m.Term()
			outcome[i] = -1
			continue
		}
		for _, ev := range evs {
			key := topology.TaskKey(ev.Account, batch.Key(ev.JobID), batch.Key(ev.TaskID))
			if _, ok := groups[key]; !ok {
				keys = append(keys, key)
			}
			groups[key] = append(groups[key], eventMsg{ev, i})
		}
	}
	results := s.applyAll(ctx, keys, groups)
	s.afterEnd(ctx, keys, groups, results)
	for i, key := range keys {
		later, err := results[i].later, results[i].err
		if err != nil {
			s.log.ErrorContext(ctx, "apply task events", "task", key, "err", err)
		}
		for _, e := range groups[key] {
			switch {
			case err != nil:
				outcome[e.msg] = max(outcome[e.msg], msgFailed)
			case later:
				outcome[e.msg] = max(outcome[e.msg], msgLater)
			}
		}
	}
	for i, m := range msgs {
		switch outcome[i] {
		case msgFailed:
			_ = m.NakWithDelay(time.Second)
		case msgLater:
			_ = m.NakWithDelay(200 * time.Millisecond)
		case msgAck:
			_ = m.Ack()
		}
	}
}

// applied is the outcome of applying one task's events. done is the
// record when the task is completed and an event of the batch said so
// (whether or not it changed the record: a redelivered completion must
// finish what its first delivery started); ended says the record became
// completed now.
type applied struct {
	later bool
	err   error
	done  *state.TaskRecord
	ended bool
}

// afterEnd does what a task's end means beyond its record: its dependents
// are resolved, and its exit options act on the job. A failure marks the
// task's events for redelivery.
func (s *Service) afterEnd(ctx context.Context, keys []string, groups map[string][]eventMsg, results []applied) {
	type jobEnds struct {
		account string
		jobID   string
		idx     []int
	}
	byJob := map[string]*jobEnds{}
	for i, r := range results {
		if r.err != nil || r.done == nil {
			continue
		}
		ev := groups[keys[i]][0].ev
		jk := topology.JobKey(ev.Account, batch.Key(ev.JobID))
		je := byJob[jk]
		if je == nil {
			je = &jobEnds{account: ev.Account, jobID: ev.JobID}
			byJob[jk] = je
		}
		je.idx = append(je.idx, i)
	}
	for _, je := range byJob {
		job, err := s.jobs.get(ctx, s, je.account, batch.Key(je.jobID))
		if errors.Is(err, batch.ErrJobNotFound) {
			continue
		}
		if err != nil {
			for _, i := range je.idx {
				results[i].err = err
			}
			continue
		}
		if usesDeps(job) {
			ended := make([]*state.TaskRecord, len(je.idx))
			for n, i := range je.idx {
				ended[n] = results[i].done
			}
			failed := s.resolveParents(ctx, je.account, job, ended)
			for _, i := range je.idx {
				if err := failed[keys[i]]; err != nil {
					results[i].err = err
				}
			}
		}
		if s.held(je.account, job) {
			s.kickGateAfterEnd(je.account, batch.Key(job.ID)) // its ended tasks made room
		}
		for _, i := range je.idx {
			if !results[i].ended {
				continue
			}
			if batch.EqualFold(job.OnTaskFailure, batch.OnTaskFailurePerformExitAction) {
				s.exitJobAction(ctx, je.account, job, results[i].done)
			}
			if jm := job.JobManagerTask; jm != nil && batch.EqualFold(jm.ID, results[i].done.ID) &&
				(jm.KillJobOnCompletion == nil || *jm.KillJobOnCompletion) {
				s.endJobQuietly(ctx, je.account, job.ID, ReasonJobManagerComplete)
			}
		}
	}
}

// exitJobAction applies an ended task's exit options to its job (the job
// opted in with onTaskFailure performexitoptionsjobaction).
func (s *Service) exitJobAction(ctx context.Context, account string, job *state.JobRecord, t *state.TaskRecord) {
	ei := t.ExecutionInfo
	if ei == nil || (ei.FailureInfo != nil && ei.FailureInfo.Code == protocol.CodeTaskEnded) {
		return // ended by request: not the task's doing
	}
	switch batch.ExitOptionsFor(t.ExitConditions, ei.ExitCode, ei.FailureInfo).JobAction {
	case batch.JobActionTerminate:
		s.endJobQuietly(ctx, account, job.ID, ReasonTaskFailed)
	case batch.JobActionDisable:
		err := s.DisableJob(ctx, account, job.ID, &batch.JobDisable{DisableTasks: batch.DisableRequeue}, Condition{})
		var be *batch.Error
		if err != nil && !(errors.As(err, &be) && be.Status == 409) {
			s.log.ErrorContext(ctx, "exit condition job action", "job", job.ID, "task", t.ID, "err", err)
		}
	}
}

// endJobQuietly terminates a job on the service's own account (a job
// action, the job manager's completion); a job already ending is no error.
func (s *Service) endJobQuietly(ctx context.Context, account, jobID, reason string) {
	err := s.TerminateJob(ctx, account, jobID, reason, Condition{})
	var be *batch.Error
	if err != nil && !(errors.As(err, &be) && (be.Status == 409 || be.Status == 404)) {
		s.log.ErrorContext(ctx, "terminate job", "job", jobID, "reason", reason, "err", err)
	}
}

// applyAll applies the events of many tasks: their records come from the
// cache (those missing are read in parallel), the events are applied, and
// every changed record is written with one pipelined batch of
// compare-and-sets. A task whose write lost a race with another writer is
// applied again on its own (applyTaskEvents).
func (s *Service) applyAll(ctx context.Context, keys []string, groups map[string][]eventMsg) []applied {
	results := make([]applied, len(keys))
	recs := make([]*state.TaskRecord, len(keys))
	revs := make([]uint64, len(keys))
	errs := make([]error, len(keys))
	var misses []int
	for i, key := range keys {
		var hit bool
		if recs[i], revs[i], hit = s.recs.get(key); !hit {
			misses = append(misses, i)
		}
	}
	bounded(32, len(misses), func(n int) {
		i := misses[n]
		recs[i], revs[i], errs[i] = s.st.Tasks.Get(ctx, keys[i])
	})
	changes := make([]*taskChange, 0, len(keys))
	writes := make([]state.Write[state.TaskRecord], 0, len(keys))
	for i, key := range keys {
		if errs[i] != nil {
			results[i] = s.taskGone(ctx, key, groups[key], errs[i])
			continue
		}
		c, res, write := s.change(ctx, key, groups[key], recs[i], revs[i])
		if !write {
			results[i] = res
			continue
		}
		c.i = i
		changes = append(changes, c)
		writes = append(writes, state.Write[state.TaskRecord]{Key: key, Value: c.rec, Revision: c.rev})
	}
	var again []int
	for n, r := range s.st.Tasks.UpdateManyAt(ctx, writes) {
		c := changes[n]
		switch {
		case r.Err != nil:
			s.recs.del(c.key)
			results[c.i] = applied{err: r.Err}
		case !r.OK:
			again = append(again, c.i) // changed meanwhile: apply to the current value
		default:
			results[c.i] = s.written(c, r.Revision)
		}
	}
	bounded(32, len(again), func(n int) {
		i := again[n]
		results[i] = s.applyTaskEvents(ctx, keys[i], groups[keys[i]], true)
	})
	return results
}

// taskChange is one task's events applied to its record, to be written.
type taskChange struct {
	i      int // index of the task in applyAll
	key    string
	evs    []eventMsg
	rec    *state.TaskRecord // the changed record
	rev    uint64            // the revision it was read at
	before *state.TaskRecord
	usage  state.Usage
	retry  bool
	later  bool
	// completed: an event of the batch said the attempt completed.
	completed bool
}

// outcome is what applying the events means once the record is rec and
// the task ended now or not.
func (c *taskChange) outcome(rec *state.TaskRecord, ended bool) applied {
	if c.completed && rec.State == batch.TaskCompleted {
		return applied{later: c.later, done: rec, ended: ended}
	}
	return applied{later: c.later}
}

// taskGone handles a task whose record could not be read: deleted (its
// events are dropped, and a process still running is killed), or an error.
func (s *Service) taskGone(ctx context.Context, key string, evs []eventMsg, err error) applied {
	if !errors.Is(err, batch.ErrTaskNotFound) {
		return applied{err: err}
	}
	s.recs.del(key)
	for _, e := range evs {
		if e.ev.Type == protocol.EventRunning {
			s.killOnNode(ctx, e.ev.Account, &state.TaskRecord{Task: batch.Task{ID: e.ev.TaskID},
				Attempt: e.ev.Attempt}, e.ev.JobID, "The task was deleted.")
		}
	}
	return applied{}
}

// change applies a task's events to rec (read at rev, which change may
// modify). write is false when there is nothing to write; res is then the
// outcome.
func (s *Service) change(ctx context.Context, key string, evs []eventMsg, rec *state.TaskRecord, rev uint64) (c *taskChange, res applied, write bool) {
	c = &taskChange{key: key, evs: evs, rec: rec, rev: rev, before: cloneRecord(rec)}
	for _, e := range evs {
		c.completed = c.completed || e.ev.Type == protocol.EventCompleted
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := evs[i].ev, evs[j].ev
		if a.Attempt != b.Attempt {
			return a.Attempt < b.Attempt
		}
		if a.Delivery != b.Delivery {
			return a.Delivery < b.Delivery
		}
		return eventOrder(a.Type) < eventOrder(b.Type)
	})
	account := evs[0].ev.Account
	changed := false
	for _, e := range evs {
		o := apply(s.st, rec, &e.ev)
		if o.changed {
			c.usage.UserCPU += o.usage.UserCPU
			c.usage.KernelCPU += o.usage.KernelCPU
			c.usage.WallClock += o.usage.WallClock
			c.usage.Wait += o.usage.Wait
			if o.retry {
				c.usage.Retries++
			}
		}
		c.later = c.later || o.later
		c.retry = c.retry || o.retry
		changed = changed || o.changed
		if o.kill {
			s.killOnNode(ctx, account, &state.TaskRecord{Task: batch.Task{ID: e.ev.TaskID,
				NodeInfo: &batch.ComputeNodeInformation{NodeID: e.ev.NodeID}}, Attempt: e.ev.Attempt}, e.ev.JobID,
				"The task was terminated by user request.")
		}
	}
	if !changed {
		return nil, c.outcome(rec, false), false
	}
	if c.retry {
		if err := s.requeueRetry(ctx, account, evs[0].ev.JobID, rec); err != nil {
			return nil, applied{err: err}, false
		}
	}
	return c, applied{}, true
}

// written finishes a change stored at revision nrev: the cache, the job's
// counts and the metrics.
func (s *Service) written(c *taskChange, nrev uint64) applied {
	rec, first := c.rec, c.evs[0].ev
	if rec.State == batch.TaskCompleted {
		s.recs.del(c.key) // likely the last change: keep the cache for live tasks
	} else {
		s.recs.put(c.key, rec, nrev)
	}
	d := state.Delta(c.before, rec)
	d.Usage = c.usage
	s.counts.add(topology.JobKey(first.Account, batch.Key(first.JobID)), d)
	if s.m != nil {
		for _, e := range c.evs {
			s.m.Add(s.m.TaskEvents, 1, e.ev.Type)
		}
		if c.retry {
			s.m.TaskRetries.Inc()
		}
		if rec.State == batch.TaskCompleted && c.before.State != batch.TaskCompleted {
			s.m.Add(s.m.TasksCompleted, 1, rec.ExecutionInfo.Result)
		}
	}
	return c.outcome(rec, c.before.State != batch.TaskCompleted && rec.State == batch.TaskCompleted)
}

// applyTaskEvents applies one task's events with its own compare-and-set,
// reading the record again after a lost race; fresh reads it from KV
// rather than the cache from the start.
func (s *Service) applyTaskEvents(ctx context.Context, key string, evs []eventMsg, fresh bool) applied {
	for {
		rec, rev, err := s.taskRecord(ctx, key, fresh)
		if err != nil {
			return s.taskGone(ctx, key, evs, err)
		}
		c, res, write := s.change(ctx, key, evs, rec, rev)
		if !write {
			return res
		}
		nrev, ok, err := s.st.Tasks.UpdateAt(ctx, key, c.rec, c.rev)
		if err != nil {
			s.recs.del(key)
			return applied{err: err}
		}
		if !ok {
			fresh = true
			continue // changed meanwhile: apply to the current value
		}
		return s.written(c, nrev)
	}
}

func eventOrder(t string) int {
	switch t {
	case protocol.EventPreparing:
		return -1
	case protocol.EventRunning:
		return 0
	case protocol.EventRequeued:
		return 1
	}
	return 2
}

type outcome struct {
	changed, retry, kill, later bool
	// usage is what an ended attempt used (completed events).
	usage state.Usage
}

// attemptUsage is what the attempt an event ends used: its CPU times, its
// wall clock time, and how long the task waited since it was added (the
// first attempt) or since its last retry.
func attemptUsage(t *state.TaskRecord, ev *protocol.TaskEvent) state.Usage {
	u := state.Usage{UserCPU: ev.UserCPU, KernelCPU: ev.KernelCPU}
	if ev.StartTime.IsZero() || ev.EndTime.IsZero() {
		return u
	}
	u.WallClock = ev.EndTime.Sub(ev.StartTime)
	since := t.CreationTime
	if t.ExecutionInfo != nil && t.ExecutionInfo.LastRetryTime != nil {
		since = t.ExecutionInfo.LastRetryTime
	}
	if since != nil && ev.StartTime.After(since.Time) {
		u.Wait = ev.StartTime.Sub(since.Time)
	}
	return u
}

// Clock is the time source of state changes: the current time and a fresh
// ETag/lastModified pair. *state.Store implements it.
type Clock interface {
	Now() time.Time
	Stamp() (etag string, lastModified *batch.Time)
}

// apply applies one event to a task record. It is a pure function of the
// record, the event and the clock, and applying an event twice changes
// nothing the second time.
func apply(c Clock, t *state.TaskRecord, ev *protocol.TaskEvent) outcome {
	switch {
	case ev.Attempt > t.Attempt:
		return outcome{later: true}
	case ev.Attempt < t.Attempt:
		return outcome{} // an earlier attempt's news
	case t.State == batch.TaskCompleted:
		// Terminated before the worker started it: stop it.
		kill := ev.Type == protocol.EventRunning && t.NodeInfo == nil &&
			t.ExecutionInfo != nil && t.ExecutionInfo.FailureInfo != nil && t.ExecutionInfo.FailureInfo.Code == protocol.CodeTaskEnded
		return outcome{kill: kill}
	case ev.Delivery < t.Delivery:
		return outcome{} // a stale delivery: the task has been requeued since
	}
	now := c.Now()
	o := outcome{changed: true}
	ei := t.ExecutionInfo
	if ei == nil {
		ei = &batch.TaskExecutionInformation{}
		t.ExecutionInfo = ei
	}
	deliveryChanged := ev.Delivery > t.Delivery
	switch {
	case deliveryChanged:
		if n := ev.Delivery - max(t.Delivery, 1); n > 0 {
			ei.RequeueCount += n
			ei.LastRequeueTime = batch.At(now)
		}
		t.Delivery = ev.Delivery
	case t.State == batch.TaskRunning && t.NodeInfo != nil && ev.NodeID != "" && t.NodeInfo.NodeID != ev.NodeID:
		// The same delivery on another node: JetStream lost the delivery
		// count (a server killed before it stored it), but the task moved.
		ei.RequeueCount++
		ei.LastRequeueTime = batch.At(now)
		deliveryChanged = true
	}
	switch ev.Type {
	case protocol.EventRunning:
		if t.State == batch.TaskRunning && t.NodeInfo != nil && t.NodeInfo.NodeID == ev.NodeID {
			return outcome{changed: deliveryChanged}
		}
		setTaskState(c, t, batch.TaskRunning)
		setRun(t, ev)
	case protocol.EventPreparing:
		if t.State == batch.TaskRunning && !deliveryChanged ||
			t.State == batch.TaskPreparing && t.NodeInfo != nil && t.NodeInfo.NodeID == ev.NodeID {
			return outcome{changed: deliveryChanged}
		}
		setTaskState(c, t, batch.TaskPreparing)
		setRun(t, ev)
	case protocol.EventRequeued:
		if t.State != batch.TaskRunning && t.State != batch.TaskPreparing || t.NodeInfo == nil || t.NodeInfo.NodeID != ev.NodeID {
			return outcome{}
		}
		setTaskState(c, t, batch.TaskActive)
	case protocol.EventCompleted:
		o.usage = attemptUsage(t, ev)
		if !ev.StartTime.IsZero() && !ev.EndTime.IsZero() {
			t.Stats = &batch.TaskStatistics{StartTime: *batch.At(ev.StartTime), LastUpdateTime: *batch.At(ev.EndTime),
				UserCPUTime: batch.Duration(ev.UserCPU), KernelCPUTime: batch.Duration(ev.KernelCPU),
				WallClockTime: batch.Duration(o.usage.WallClock), WaitTime: batch.Duration(o.usage.Wait)}
		}
		if t.State != batch.TaskRunning && !ev.StartTime.IsZero() {
			// Too quick for its running event (workers report running only
			// for tasks that outlive a few ms): it ran all the same.
			t.State, t.StateTransitionTime = batch.TaskRunning, batch.At(ev.StartTime)
		}
		setRun(t, ev)
		ei.EndTime = batch.At(ev.EndTime)
		ei.ExitCode = ev.ExitCode
		ei.FailureInfo = ev.FailureInfo
		maxRetries := batch.IntOr(t.Constraints.MaxTaskRetryCount, 0)
		if ev.FailureInfo != nil && ev.FailureInfo.Code == "FailureExitCode" && (maxRetries == -1 || ei.RetryCount < maxRetries) {
			ei.RetryCount++
			ei.LastRetryTime = batch.At(now)
			ei.Result = ""
			t.Attempt++
			t.Delivery = 0
			setTaskState(c, t, batch.TaskActive)
			o.retry = true
			return o
		}
		ei.Result = batch.ResultFailure
		if ev.FailureInfo == nil && ev.ExitCode != nil && *ev.ExitCode == 0 {
			ei.Result = batch.ResultSuccess
		}
		setTaskState(c, t, batch.TaskCompleted)
	default:
		return outcome{}
	}
	return o
}

// setRun records where and when an attempt runs.
func setRun(t *state.TaskRecord, ev *protocol.TaskEvent) {
	if !ev.StartTime.IsZero() {
		t.ExecutionInfo.StartTime = batch.At(ev.StartTime)
	}
	if ev.NodeID != "" {
		t.NodeInfo = &batch.ComputeNodeInformation{AffinityID: "TVM:" + ev.NodeID, PoolID: ev.PoolID,
			NodeID: ev.NodeID, TaskRootDirectory: ev.TaskRootDir}
	}
}

// requeueRetry publishes the ready message of a retry (the record's new
// attempt). Publishing twice is harmless: the message id is per attempt.
func (s *Service) requeueRetry(ctx context.Context, account, jobID string, t *state.TaskRecord) error {
	job, err := s.jobs.get(ctx, s, account, batch.Key(jobID))
	if err != nil {
		return err
	}
	if job.State != batch.JobActive && job.State != batch.JobDisabled {
		// The job is ending: the retry will not run.
		setTaskState(s.st, t, batch.TaskCompleted)
		t.ExecutionInfo.Result = batch.ResultFailure
		return nil
	}
	if job.State == batch.JobDisabled {
		return nil // queued when the job is enabled
	}
	msg, err := s.taskMsg(ctx, account, job, t)
	if err != nil {
		return err
	}
	_, err = s.publish(ctx, msg)
	return err
}

// jobCache keeps recently read jobs for a second, so that retries in a busy
// event stream do not read the job record each time.
type jobCache struct {
	mu sync.Mutex
	m  map[string]cachedJob
}

type cachedJob struct {
	job *state.JobRecord
	at  time.Time
}

// del forgets a job (account.job key) whose state changed.
func (c *jobCache) del(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

func (c *jobCache) get(ctx context.Context, s *Service, account, jobKey string) (*state.JobRecord, error) {
	key := topology.JobKey(account, jobKey)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedJob{}
	}
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < time.Second {
		return e.job, nil
	}
	j, _, err := s.st.Jobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[key] = cachedJob{j, time.Now()}
	c.mu.Unlock()
	return j, nil
}
