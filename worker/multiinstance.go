package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker/run"
	"github.com/natch-io/natch/worker/stage"
)

// Multi-instance (MPI) tasks: how the instances of an attempt meet is
// described in shared/protocol/multiinstance.go. Here a worker runs one
// instance: it joins the attempt's rendezvous, waits (watching the KV key)
// until every instance has a node, stages the common resource files into
// the task directory (AZ_BATCH_TASK_SHARED_DIR), runs the coordination
// command, and then, on the primary, runs the command line once every
// coordination command has succeeded; a subtask waits for the primary's end.
// Only the primary reports task events; the subtasks report through the
// rendezvous record, which is also their listSubtasks information.

// duplicateDelay is how long a worker holding an instance of a task waits
// before another instance of it it was given may come back (to it or, more
// likely, to another node).
const duplicateDelay = time.Second

// miState is a worker's multi-instance state: the rendezvous bucket.
type miState struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

// miTask is the multi-instance part of a held task.
type miTask struct {
	instance int
	n        int
	key      string
	outcome  miOutcome
	round    int
}

// miOutcome is how an instance ended, for settleMulti.
type miOutcome int

const (
	miRan      miOutcome = iota // the primary ran (or failed to): report it as any task
	miSubDone                   // a subtask is over: ack, no event
	miTimedOut                  // the rendezvous did not fill in time: give the message back later
	miEnded                     // the task ended elsewhere (terminated, deleted): ack, no event
	miLost                      // the instance was taken over by another node: leave the message alone
)

// errRoundOver cancels an instance's work when its round is over: the
// rendezvous restarted, ended, or went away.
var errRoundOver = errors.New("multi-instance rendezvous round over")

// admitInstance decides whether the worker takes an instance of a
// multi-instance task: not when it already holds another instance of the
// same attempt (the message goes back, for another node). It fills t.mi.
func (w *Worker) admitInstance(ctx context.Context, t *task) bool {
	job, tk := batch.Key(t.tm.JobID), batch.Key(t.tm.Task.ID)
	w.mu.Lock()
	dup := false
	for h := range w.held {
		if h.mi != nil && h.tm.Attempt == t.tm.Attempt && batch.Key(h.tm.Task.ID) == tk && batch.Key(h.tm.JobID) == job {
			dup = true
			break
		}
	}
	w.mu.Unlock()
	if dup {
		if err := t.msg.NakWithDelay(duplicateDelay); err != nil {
			w.log.WarnContext(ctx, "give back a second instance", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
		}
		return false
	}
	t.mi = &miTask{instance: t.tm.Instance, n: t.tm.Task.MultiInstanceSettings.Instances(),
		key: topology.RendezvousKey(w.cfg.Account, job, tk, t.tm.Attempt)}
	return true
}

// NakWithDelay gives the message back for redelivery after d.
func (t taskMsg) NakWithDelay(d time.Duration) error {
	return t.ack(`-NAK {"delay":` + strconv.FormatInt(d.Nanoseconds(), 10) + `}`)
}

// rendezvousKV returns the rendezvous bucket, binding it once.
func (w *Worker) rendezvousKV(ctx context.Context) (jetstream.KeyValue, error) {
	w.mi.mu.Lock()
	defer w.mi.mu.Unlock()
	if w.mi.kv != nil {
		return w.mi.kv, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := w.js.KeyValue(cctx, topology.RendezvousBucket)
	if err != nil {
		return nil, fmt.Errorf("rendezvous bucket: %w", err)
	}
	w.mi.kv = kv
	return kv, nil
}

// errGone: the rendezvous record does not exist (a subtask of a task that
// ended and was cleaned up).
var errGone = errors.New("rendezvous gone")

// mutate applies f to the rendezvous record by compare-and-set; create
// says a missing record is created (the primary), else it is errGone. f
// reports whether it changed anything; the record is returned either way.
func (w *Worker) mutate(ctx context.Context, kv jetstream.KeyValue, mi *miTask, create bool,
	f func(r *protocol.Rendezvous) bool) (*protocol.Rendezvous, uint64, error) {
	for try := 1; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, rev, err := w.mutateOnce(cctx, kv, mi, create, f)
		cancel()
		if conflict(err) && try < maxCASTries && ctx.Err() == nil {
			continue // changed meanwhile
		}
		return r, rev, err
	}
}

// maxCASTries bounds a compare-and-set loop on a rendezvous (a hundred
// instances at most write it).
const maxCASTries = 1000

// conflict reports whether a KV write lost a race: the key was created or
// changed meanwhile.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

func (w *Worker) mutateOnce(ctx context.Context, kv jetstream.KeyValue, mi *miTask, create bool,
	f func(r *protocol.Rendezvous) bool) (*protocol.Rendezvous, uint64, error) {
	var r *protocol.Rendezvous
	var rev uint64
	e, err := kv.Get(ctx, mi.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		if !create {
			return nil, 0, errGone
		}
		r = protocol.NewRendezvous(mi.n)
	case err != nil:
		return nil, 0, err
	default:
		r = &protocol.Rendezvous{}
		if err := json.Unmarshal(e.Value(), r); err != nil {
			return nil, 0, fmt.Errorf("decode rendezvous: %w", err)
		}
		rev = e.Revision()
	}
	if !f(r) {
		return r, rev, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, 0, err
	}
	if rev == 0 {
		rev, err = kv.Create(ctx, mi.key, b)
	} else {
		rev, err = kv.Update(ctx, mi.key, b, rev)
	}
	return r, rev, err
}

// miWatch follows the rendezvous record for one instance and cancels the
// instance's round when it is over.
type miWatch struct {
	mu      sync.Mutex
	cur     *protocol.Rendezvous
	gone    bool
	minRev  uint64 // updates older than the instance's own last write are stale
	round   int
	joined  bool
	cancel  context.CancelCauseFunc
	notify  chan struct{}
	node    string
	inst    int
	watcher jetstream.KeyWatcher
}

// run applies the watcher's updates until it stops.
func (m *miWatch) run() {
	for e := range m.watcher.Updates() {
		if e == nil {
			continue // the initial values have been delivered
		}
		var r *protocol.Rendezvous
		gone := e.Operation() != jetstream.KeyValuePut
		if !gone {
			r = &protocol.Rendezvous{}
			if json.Unmarshal(e.Value(), r) != nil {
				continue
			}
		}
		m.mu.Lock()
		if e.Revision() < m.minRev {
			m.mu.Unlock()
			continue
		}
		m.cur, m.gone = r, gone
		over := gone || r.Ended != nil || (m.joined && !r.Holds(m.inst, m.node, m.round))
		if over && m.cancel != nil {
			m.cancel(errRoundOver)
		}
		m.mu.Unlock()
		select {
		case m.notify <- struct{}{}:
		default:
		}
	}
}

// set records the instance's own write (rev) and round.
func (m *miWatch) set(r *protocol.Rendezvous, rev uint64, round int, cancel context.CancelCauseFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev >= m.minRev {
		m.cur, m.gone, m.minRev = r, false, rev
	}
	m.round, m.joined, m.cancel = round, true, cancel
}

// wait waits until ok holds for the current record, ctx is done or timeout
// fires (0: none). It returns the record and whether ok held.
func (m *miWatch) wait(ctx context.Context, timeout time.Duration, ok func(r *protocol.Rendezvous) bool) (*protocol.Rendezvous, bool) {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		m.mu.Lock()
		r := m.cur
		m.mu.Unlock()
		if r != nil && ok(r) {
			return r, true
		}
		select {
		case <-m.notify:
		case <-ctx.Done():
			return r, false
		case <-timer:
			return r, false
		}
	}
}

// state returns the current record and whether it is gone.
func (m *miWatch) state() (*protocol.Rendezvous, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur, m.gone
}

// executeMulti runs one instance of a multi-instance task; the outcome
// goes to t.mi.outcome, the primary's result is returned.
func (w *Worker) executeMulti(ctx context.Context, t *task) run.Result {
	mi := t.mi
	start := time.Now()
	interrupted := func() run.Result {
		return run.Result{StartTime: start, EndTime: time.Now(), Interrupted: true}
	}
	log := w.log.With("job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "attempt", t.tm.Attempt, "instance", mi.instance)
	kv, err := w.rendezvousKV(ctx)
	if err != nil {
		log.WarnContext(ctx, "multi-instance task: giving it back", "err", err)
		mi.outcome = miTimedOut
		return interrupted()
	}
	watcher, err := kv.Watch(ctx, mi.key)
	if err != nil {
		log.WarnContext(ctx, "multi-instance task: watch rendezvous; giving it back", "err", err)
		mi.outcome = miTimedOut
		return interrupted()
	}
	m := &miWatch{notify: make(chan struct{}, 1), node: w.cfg.NodeID, inst: mi.instance, watcher: watcher}
	var wg sync.WaitGroup
	wg.Go(m.run)
	defer func() {
		_ = watcher.Stop()
		wg.Wait()
	}()
	for {
		roundCtx, cancel := context.WithCancelCause(ctx)
		res, again := w.runRound(ctx, roundCtx, cancel, kv, m, t, log)
		cancel(nil)
		if !again {
			return res
		}
		log.InfoContext(ctx, "multi-instance rendezvous restarted: meeting again")
	}
}

// runRound runs one round of an instance: join, meet, coordinate, run.
// again says the rendezvous restarted and the instance should join again.
func (w *Worker) runRound(ctx, roundCtx context.Context, cancel context.CancelCauseFunc, kv jetstream.KeyValue,
	m *miWatch, t *task, log *slog.Logger) (res run.Result, again bool) {
	mi := t.mi
	start := time.Now()
	res = run.Result{StartTime: start, Interrupted: true}
	me := protocol.Member{NodeID: w.cfg.NodeID, PoolID: w.poolID, IPAddress: w.ipAddress, TaskRootDir: t.dir}
	var round int
	r, rev, err := w.mutate(ctx, kv, mi, mi.instance == 0, func(r *protocol.Rendezvous) bool {
		if r.Ended != nil {
			return false
		}
		var changed bool
		round, changed = r.Join(mi.instance, me, time.Now())
		return changed
	})
	switch {
	case errors.Is(err, errGone):
		mi.outcome = miEnded
		return res, false
	case err != nil:
		log.WarnContext(ctx, "join rendezvous; giving the instance back", "err", err)
		mi.outcome = miTimedOut
		return res, false
	case r.Ended != nil && r.Result != nil && mi.instance == 0:
		// The primary ran, but its result may not have been reported.
		pr := r.Result
		mi.outcome = miRan
		return run.Result{StartTime: pr.StartTime, EndTime: pr.EndTime, ExitCode: pr.ExitCode,
			FailureInfo: pr.FailureInfo}, false
	case r.Ended != nil:
		mi.outcome = miEnded
		return res, false
	}
	mi.round = round
	m.set(r, rev, round, cancel)
	if mi.instance == 0 && !r.SubtasksQueued {
		if err := w.queueSubtasks(ctx, t); err != nil {
			log.WarnContext(ctx, "queue subtasks; giving the task back", "err", err)
			w.leave(ctx, kv, mi)
			mi.outcome = miTimedOut
			return res, false
		}
		r, rev, err = w.mutate(ctx, kv, mi, false, func(r *protocol.Rendezvous) bool {
			if r.SubtasksQueued {
				return false
			}
			r.SubtasksQueued = true
			return true
		})
		if err == nil {
			m.set(r, rev, round, cancel)
		}
	}

	// Meet.
	full := func(r *protocol.Rendezvous) bool { return r.Full() && r.Round == round }
	met, ok := m.wait(roundCtx, w.cfg.RendezvousTimeout, full)
	if !ok {
		if out, again := w.roundOver(ctx, m, mi); out >= 0 || again {
			mi.outcome = out
			return res, again
		}
		// Timed out: leave, unless the rendezvous filled meanwhile.
		left := false
		r, _, err := w.mutate(ctx, kv, mi, false, func(r *protocol.Rendezvous) bool {
			left = r.Leave(mi.instance, w.cfg.NodeID, round, time.Now())
			return left
		})
		if err != nil || left || r == nil || !full(r) {
			log.InfoContext(ctx, "multi-instance rendezvous timed out; giving the node back",
				"timeout", w.cfg.RendezvousTimeout)
			mi.outcome = miTimedOut
			return res, false
		}
		met = r // it filled just in time
	}

	// Coordinate.
	hosts := protocol.HostsOf(met)
	t.tm.ServiceEnvironment = append(withoutMultiEnv(t.tm.ServiceEnvironment), multiEnv(hosts, mi.instance == 0, t.dir)...)
	w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool {
		return r.SetState(mi.instance, w.cfg.NodeID, round, batch.SubtaskPreparing, time.Now())
	})
	code, fi := w.coordinate(roundCtx, t)
	if roundCtx.Err() != nil {
		return w.interrupted(ctx, m, mi, res)
	}
	w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool {
		return r.Coordinated(mi.instance, w.cfg.NodeID, round, code, fi, time.Now())
	})
	coordinated := fi == nil && code != nil && *code == 0

	if mi.instance > 0 {
		if !coordinated {
			mi.outcome = miSubDone
			return res, false
		}
		// Run until the primary ends.
		<-roundCtx.Done()
		if ctx.Err() != nil {
			return w.interrupted(ctx, m, mi, res)
		}
		r, gone := m.state()
		if gone || r == nil || r.Ended == nil {
			return w.interrupted(ctx, m, mi, res)
		}
		w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool {
			return r.Complete(mi.instance, w.cfg.NodeID, round, batch.ResultSuccess, time.Now())
		})
		mi.outcome = miSubDone
		return res, false
	}

	// The primary: wait for every coordination command, then run.
	r, ok = m.wait(roundCtx, 0, func(r *protocol.Rendezvous) bool {
		done, failed := r.Coordination()
		return done || failed >= 0
	})
	if !ok {
		return w.interrupted(ctx, m, mi, res)
	}
	if _, failed := r.Coordination(); failed >= 0 {
		f := r.Members[failed]
		now := time.Now()
		res = run.Result{StartTime: start, EndTime: now, ExitCode: f.ExitCode, FailureInfo: coordinationFailure(failed, f)}
	} else if len(t.tm.Task.ResourceFiles) > 0 || len(t.tm.Task.OutputFiles) > 0 {
		res = w.executeWithFiles(roundCtx, t)
	} else {
		res = w.execute(roundCtx, t)
	}
	if res.Interrupted && ctx.Err() == nil && roundCtx.Err() != nil {
		return w.interrupted(ctx, m, mi, res)
	}
	result := batch.ResultFailure
	if res.Succeeded() {
		result = batch.ResultSuccess
	}
	if !res.Interrupted || ctx.Err() != nil && errors.As(context.Cause(ctx), new(*terminated)) {
		w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool {
			c := r.Complete(0, w.cfg.NodeID, round, result, time.Now())
			if r.Ended != nil || !r.End(time.Now()) {
				return c
			}
			if !res.Interrupted {
				r.Result = &protocol.PrimaryResult{StartTime: res.StartTime, EndTime: res.EndTime,
					ExitCode: res.ExitCode, FailureInfo: res.FailureInfo}
			}
			return true
		})
	}
	mi.outcome = miRan
	return res, false
}

// roundOver explains a round cut short (roundCtx done or a timeout): the
// outcome (-1 if the round is not over) and whether to join again.
func (w *Worker) roundOver(ctx context.Context, m *miWatch, mi *miTask) (miOutcome, bool) {
	if ctx.Err() != nil {
		return miRan, false
	}
	r, gone := m.state()
	switch {
	case gone || r != nil && r.Ended != nil:
		return miEnded, false
	case r == nil || r.Holds(mi.instance, w.cfg.NodeID, mi.round):
		return -1, false
	case r.Round != mi.round:
		return -1, true
	}
	return miLost, false
}

// interrupted ends a round that was cut short while the instance worked.
func (w *Worker) interrupted(ctx context.Context, m *miWatch, mi *miTask, res run.Result) (run.Result, bool) {
	res.Interrupted = true
	res.EndTime = time.Now()
	out, again := w.roundOver(ctx, m, mi)
	if out < 0 {
		out = miLost
	}
	mi.outcome = out
	return res, again
}

// leave frees the instance's slot (best effort).
func (w *Worker) leave(ctx context.Context, kv jetstream.KeyValue, mi *miTask) {
	w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool {
		return r.Leave(mi.instance, w.cfg.NodeID, mi.round, time.Now())
	})
}

// setMember applies f to the rendezvous, logging a failure: members'
// states are information, the task's course does not depend on them.
func (w *Worker) setMember(ctx context.Context, kv jetstream.KeyValue, mi *miTask, f func(r *protocol.Rendezvous) bool) {
	if _, _, err := w.mutate(context.WithoutCancel(ctx), kv, mi, false, f); err != nil && !errors.Is(err, errGone) {
		w.log.WarnContext(ctx, "update multi-instance rendezvous", "key", mi.key, "err", err)
	}
}

// queueSubtasks publishes the ready messages of instances 1..n-1. The
// message ids make a repeated publish (a primary redelivered before its
// worker recorded the publish) store each once.
func (w *Worker) queueSubtasks(ctx context.Context, t *task) error {
	jobKey, taskKey := batch.Key(t.tm.JobID), batch.Key(t.tm.Task.ID)
	sub := t.tm
	sub.ServiceEnvironment = withoutMultiEnv(t.tm.ServiceEnvironment)
	for i := 1; i < t.mi.n; i++ {
		sub.Instance = i
		b, err := json.Marshal(&sub)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(topology.SubtaskSubject(w.cfg.Account, w.poolKey, jobKey, taskKey, i))
		msg.Data = b
		msg.Header.Set(jetstream.MsgIDHeader, t.tm.MsgID()+"/"+strconv.Itoa(i))
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = w.js.PublishMsg(pctx, msg)
		cancel()
		if err != nil {
			return fmt.Errorf("queue subtask %d: %w", i, err)
		}
	}
	return nil
}

// coordinate installs the task's application packages, stages the common
// resource files into the task directory and runs the coordination command
// there (its output is the instance's stdout.txt/stderr.txt).
func (w *Worker) coordinate(ctx context.Context, t *task) (*int, *batch.TaskFailureInformation) {
	ms := t.tm.Task.MultiInstanceSettings
	appEnv, failed := w.installPackages(ctx, t)
	if failed != nil {
		return nil, failed.FailureInfo
	}
	if err := w.stager.Stage(ctx, t.dir, ms.CommonResourceFiles); err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, failureInfo(err, stage.CodeBlobDownloadMiscError)
	}
	spec := run.Spec{TaskDir: t.dir, CommandLine: ms.CoordinationCommandLine, Env: append(w.taskEnv(t), appEnv...)}
	if c := t.tm.Task.Constraints; c != nil && c.MaxWallClockTime != nil && !c.MaxWallClockTime.IsInfinite() {
		spec.MaxWallClockTime = c.MaxWallClockTime.Std()
	}
	res := w.runner.Run(ctx, spec)
	return res.ExitCode, res.FailureInfo
}

// coordinationFailure is the primary's failureInfo when instance i's
// coordination failed. A non-zero exit keeps Azure's FailureExitCode, so
// that the task is retried (every instance, as a new attempt).
func coordinationFailure(i int, m protocol.Member) *batch.TaskFailureInformation {
	who := "the primary"
	if i > 0 {
		who = "subtask " + strconv.Itoa(i)
	}
	fi := &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: run.CodeFailureExitCode}
	if m.FailureInfo != nil {
		c := *m.FailureInfo
		fi = &c
	}
	fi.Message = "The coordination command of " + who + " on node " + m.NodeID + " failed"
	if m.ExitCode != nil {
		fi.Message += " with exit code " + strconv.Itoa(*m.ExitCode)
	}
	if m.FailureInfo != nil && m.FailureInfo.Message != "" {
		fi.Message += ": " + m.FailureInfo.Message
	}
	return fi
}

// Names of the multi-instance environment variables.
const (
	envHostList = "AZ_BATCH_HOST_LIST"
	envNodeList = "AZ_BATCH_NODE_LIST"
	envMaster   = "AZ_BATCH_MASTER_NODE"
	envIsMaster = "AZ_BATCH_IS_CURRENT_NODE_MASTER"
	envShared   = "AZ_BATCH_TASK_SHARED_DIR"
	envCCPNodes = "CCP_NODES"
)

// multiEnv is the environment Azure gives the instances of a multi-instance
// task.
func multiEnv(h protocol.Hosts, primary bool, sharedDir string) []batch.NameValue {
	return []batch.NameValue{
		{Name: envHostList, Value: h.HostList},
		{Name: envNodeList, Value: h.NodeList},
		{Name: envMaster, Value: h.Master},
		{Name: envIsMaster, Value: strconv.FormatBool(primary)},
		{Name: envShared, Value: sharedDir},
		{Name: envCCPNodes, Value: h.CCPNodes},
	}
}

// withoutMultiEnv drops the variables multiEnv sets (a round that starts
// again sets them anew).
func withoutMultiEnv(env []batch.NameValue) []batch.NameValue {
	out := env[:0:0]
	for _, nv := range env {
		switch nv.Name {
		case envHostList, envNodeList, envMaster, envIsMaster, envShared, envCCPNodes:
		default:
			out = append(out, nv)
		}
	}
	return out
}

// settleMulti settles what is particular to an instance: everything but a
// primary's result, which settle reports as any task's. It reports whether
// it settled t.
func (w *Worker) settleMulti(ctx context.Context, t *task, res run.Result, cause error) bool {
	mi := t.mi
	log := w.log.With("job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "attempt", t.tm.Attempt, "instance", mi.instance)
	if res.Interrupted && (errors.Is(cause, errShutdown) || errors.Is(cause, ErrNodeRemoved)) && mi.instance > 0 {
		if err := t.msg.Nak(); err != nil {
			log.WarnContext(ctx, "nak subtask", "err", err)
		}
		return true
	}
	switch mi.outcome {
	case miRan:
		if mi.instance > 0 { // cut short on its node: another node takes it
			if err := t.msg.Nak(); err != nil {
				log.WarnContext(ctx, "nak subtask", "err", err)
			}
			return true
		}
		if errors.As(cause, new(*terminated)) {
			if kv, err := w.rendezvousKV(ctx); err == nil {
				w.setMember(ctx, kv, mi, func(r *protocol.Rendezvous) bool { return r.End(time.Now()) })
			}
		}
		return false // the primary's result: settle reports it
	case miSubDone, miEnded:
		if mi.outcome == miSubDone {
			w.retain(t, time.Now())
		}
		if err := t.msg.Ack(); err != nil {
			log.WarnContext(ctx, "ack instance", "err", err)
		}
	case miTimedOut:
		d := w.cfg.RendezvousTimeout + rand.N(w.cfg.RendezvousTimeout/4+1)
		if err := t.msg.NakWithDelay(d); err != nil {
			log.WarnContext(ctx, "give back instance", "err", err)
		}
	case miLost:
		log.InfoContext(ctx, "instance taken over by another node")
	}
	return true
}
