package worker

import (
	"context"
	"sync"
	"time"

	"github.com/natch-io/natch/worker/run"
)

// Adaptive prefetch. The fetch loop asks for as many task messages as the
// node can hold (one request for all of them) and queues what arrives; a
// starter takes slots for the queue's head, oldest first, and starts it.
// The node holds at most slots + prefetch messages: those running and a
// few waiting here for a slot. prefetch is Config.Prefetch while
//   - the node's recent tasks are short (a moving average of their run
//     time below Config.PrefetchBelow),
//   - the last delivery said the pool has a backlog (its num_pending > 0),
//   - the pool does not pack tasks (nodeFillType pack: each request asks
//     for one message, with the node's current priority) and no instance
//     of a multi-instance task waits in the queue (nothing is prefetched
//     beyond one: it waits for its slots and its rendezvous as before);
//
// else it is 0, and the node holds no more messages than it has slots. A
// prefetched task waits on this node instead of in the stream. That is
// harmless only when the tasks ahead of it end within milliseconds; with
// long tasks another node (one that starts later, or frees a slot sooner)
// must be able to take it. Without a backlog prefetching gains nothing:
// the node's request waits on the server anyway.
//
// While prefetching, the next request is sent once half the capacity is
// free (or nothing waits in the queue), so that requests carry several
// messages. Queued tasks are held (progress-acked, found by terminate);
// when pulling pauses, the node is removed or stops, the ones that have
// not started are given back at once with a Nak: they never ran, so there
// is no event.

// runAverageWeight is the weight of a new sample in the run time average
// (1/runAverageWeight): a long task pushes the average up within a task or
// two, and it takes a few dozen short ones to bring it back down.
const runAverageWeight = 4

// prefetchState is the fetch loop's queue and what decides its length.
type prefetchState struct {
	max   int           // Config.Prefetch resolved; 0: never prefetch
	ready chan struct{} // the queue got a task (for the starter)
	wake  chan struct{} // slots were freed or queued tasks left (for the fetch loop)

	runTime movingAverage // of recent tasks' run time (weight runAverageWeight)

	// Guarded by Worker.mu.
	queue       []*task // accepted, not started, oldest first
	queuedSlots int     // the slots the queued tasks need
	queuedMI    int     // queued instances of multi-instance tasks
}

// initPrefetch prepares the queue once the slots are known.
func (w *Worker) initPrefetch() {
	w.pf.ready = make(chan struct{}, 1)
	w.pf.wake = make(chan struct{}, 1)
	w.pf.runTime.weight = runAverageWeight
	w.pf.max = w.cfg.Prefetch
	if w.pf.max == 0 {
		w.pf.max = 2 * w.slots
	}
	if w.pf.max < 0 || w.cfg.PrefetchBelow < 0 {
		w.pf.max = 0
	}
}

// signal wakes the goroutine waiting on ch, if any.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pullBatch is how many messages the next pull request may ask for (0:
// none now). backlog says whether the last delivery reported a backlog;
// pack whether the pool packs tasks.
func (w *Worker) pullBatch(backlog, pack bool) int {
	w.mu.Lock()
	queued, queuedSlots, mi := len(w.pf.queue), w.pf.queuedSlots, w.pf.queuedMI
	w.mu.Unlock()
	// Read after the queue: the starter takes a task's slots before it
	// removes the task from the queue, so a task is counted at least once.
	used := len(w.slotCh)
	extra := 0
	if backlog && !pack && mi == 0 {
		extra = w.prefetchAllowance()
	}
	capacity := w.slots + extra
	free := capacity - used - queuedSlots
	switch {
	case free < 1:
		return 0
	case pack:
		return 1
	case extra > 0 && queued > 0 && 2*free < capacity:
		return 0 // wait until a request can carry several messages
	}
	return free
}

// prefetchAllowance is how many messages the node may hold beyond its
// slots, by the run time of its recent tasks.
func (w *Worker) prefetchAllowance() int {
	if w.pf.max == 0 {
		return 0
	}
	avg := w.pf.runTime.load()
	if avg == 0 || avg >= w.cfg.PrefetchBelow {
		return 0
	}
	return w.pf.max
}

// noteRun adds a task that ended to the run time average: the time from
// its start to the end of its process (job preparation waits and staging
// included: they keep a slot too). Multi-instance instances and
// interrupted attempts do not count.
func (w *Worker) noteRun(t *task, res run.Result) {
	if t.mi != nil || res.Interrupted || t.started.IsZero() {
		return
	}
	w.pf.runTime.add(time.Since(t.started))
}

// enqueue queues an accepted task for the starter.
func (w *Worker) enqueue(t *task) {
	w.mu.Lock()
	if w.droppedLocked(t) { // drop.go: its job or the task ended meanwhile
		delete(w.held, t)
		w.mu.Unlock()
		w.ackDropped(t.msg, t.tm)
		return
	}
	w.pf.queue = append(w.pf.queue, t)
	w.pf.queuedSlots += t.slots
	if t.mi != nil {
		w.pf.queuedMI++
	}
	w.mu.Unlock()
	signal(w.pf.ready)
}

// dequeueLocked removes the queue's head; w.mu is held.
func (w *Worker) dequeueLocked() *task {
	t := w.pf.queue[0]
	w.pf.queue[0] = nil
	w.pf.queue = w.pf.queue[1:]
	if len(w.pf.queue) == 0 {
		w.pf.queue = w.pf.queue[:0:0] // let the array go; append makes a new one
	}
	w.pf.queuedSlots -= t.slots
	if t.mi != nil {
		w.pf.queuedMI--
	}
	return t
}

// startLoop starts the queued tasks in order while stopCtx lives, each once
// it has its slots. While pulling is paused it gives back what is queued.
func (w *Worker) startLoop(stopCtx, workCtx, settleCtx context.Context, tasks *sync.WaitGroup) {
	for {
		resume, pause := w.life.gate()
		if resume != nil {
			w.giveBack(stopCtx, workCtx, settleCtx, tasks)
			select {
			case <-resume:
			case <-w.pf.ready: // a task the open request still brought
			case <-stopCtx.Done():
				return
			}
			continue
		}
		w.mu.Lock()
		var head *task
		if len(w.pf.queue) > 0 {
			head = w.pf.queue[0]
			if head.pending != nil {
				// Terminated before it started: it ends at once, without
				// slots (runTask gives back t.slots of them).
				w.dequeueLocked()
				head.slots = 0
			}
		}
		w.mu.Unlock()
		switch {
		case head == nil:
			select {
			case <-w.pf.ready:
			case <-pause:
			case <-stopCtx.Done():
				return
			}
			continue
		case head.slots == 0:
			signal(w.pf.wake)
			w.runners.goTask(tasks, func() { w.runTask(workCtx, settleCtx, head) })
			continue
		}
		if !w.takeSlots(stopCtx, pause, head.slots) {
			if stopCtx.Err() != nil {
				return
			}
			continue // paused
		}
		w.mu.Lock()
		ok := len(w.pf.queue) > 0 && w.pf.queue[0] == head && head.pending == nil
		cut := false
		if ok {
			w.dequeueLocked()
			// No progress ack reached NATS for longer than AckWait while
			// it waited: it has been or will be redelivered elsewhere.
			if cut = time.Since(head.lastOK) > w.ackWait; cut {
				delete(w.held, head)
			}
		}
		w.mu.Unlock()
		if !ok || cut { // given back, terminated or cut off meanwhile
			w.releaseSlots(head.slots)
			if cut {
				w.taskLog(head).WarnContext(stopCtx, "queued task dropped: cut off from NATS; it will be redelivered")
			}
			continue
		}
		signal(w.pf.wake)
		head.started = time.Now()
		w.runners.goTask(tasks, func() { w.runTask(workCtx, settleCtx, head) })
	}
}

// takeSlots takes n slot tokens, unless pulling pauses or stopCtx ends
// first (it then takes none).
func (w *Worker) takeSlots(stopCtx context.Context, pause <-chan struct{}, n int) bool {
	for got := range n {
		select {
		case w.slotCh <- struct{}{}:
		case <-pause:
			w.releaseSlots(got)
			return false
		case <-stopCtx.Done():
			w.releaseSlots(got)
			return false
		}
	}
	select {
	case <-pause:
		w.releaseSlots(n)
		return false
	default:
		return true
	}
}

// giveBack empties the queue: the tasks are given back with a Nak (they
// never ran, so there is no event), except those terminated meanwhile,
// which end as terminated without running.
func (w *Worker) giveBack(ctx, workCtx, settleCtx context.Context, tasks *sync.WaitGroup) {
	w.mu.Lock()
	queue := w.pf.queue
	w.pf.queue, w.pf.queuedSlots, w.pf.queuedMI = nil, 0, 0
	var naks, ended []*task
	for _, t := range queue {
		if t.pending != nil {
			t.slots = 0
			ended = append(ended, t)
		} else {
			delete(w.held, t)
			naks = append(naks, t)
		}
	}
	w.mu.Unlock()
	if len(queue) == 0 {
		return
	}

	signal(w.pf.wake)
	for _, t := range naks {
		if err := t.msg.Nak(); err != nil {
			w.log.WarnContext(ctx, "give back a task", "job_id", t.tm.JobID, "task_id", t.tm.Task.ID, "err", err)
		}
	}
	for _, t := range ended {
		w.runners.goTask(tasks, func() { w.runTask(workCtx, settleCtx, t) })
	}
	w.log.DebugContext(ctx, "gave back tasks that had not started", "count", len(naks))
}
