package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/natch-io/natch/shared/protocol"
)

// Node states of a restarting agent (Azure's ComputeNodeState).
const (
	nodeRebooting = "rebooting"
	nodeReimaging = "reimaging"
)

// Scheduling states (Azure's SchedulingState).
const (
	schedulingEnabled  = "enabled"
	schedulingDisabled = "disabled"
)

// rebootPause is how long a rebooting node stays in its rebooting or
// reimaging state at least once its tasks are gone: the agent's restart.
const rebootPause = time.Second

// errRequeued is the cancellation cause of a task given back because its
// node's scheduling was disabled or the node rebooted with the requeue
// option: settle requeues it (not the task's fault).
var errRequeued = errors.New("requeued: the node stopped taking tasks")

// Reasons of tasks a node command terminates (their failureInfo message).
const (
	msgTerminatedDisable = "The task was terminated because scheduling was disabled on its node."
	msgTerminatedReboot  = "The task was terminated because its node was rebooted or reimaged."
)

// lifecycle is the node's own scheduling state and restarts: whether it
// takes tasks (scheduling enabled, no restart under way) and what it shows
// in its node record meanwhile. The zero value takes tasks.
type lifecycle struct {
	mu       sync.Mutex
	disabled bool          // scheduling disabled by request
	gen      int           // counts scheduling requests
	busy     string        // nodeRebooting or nodeReimaging while a restart is under way
	resume   chan struct{} // closed when pulling may resume; nil while it may
	pause    chan struct{} // closed when pulling pauses; nil while paused
	bootTime time.Time     // the last restart; zero before any

	ctx    context.Context // ends when the worker stops; nil before Run
	closed bool            // wait was called: no more background work
	ops    sync.WaitGroup  // restarts and task handling under way
}

// start binds the lifecycle's background work to ctx (the worker's
// background context).
func (l *lifecycle) start(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	l.mu.Unlock()
}

// wait waits for the background work, once ctx has ended; none starts
// afterwards.
func (l *lifecycle) wait() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ops.Wait()
}

// gate tells the puller whether the node may pull tasks: while it may,
// resume is nil and pause is closed when it no longer may; while it may
// not, resume is closed when it may again (and pause is nil).
func (l *lifecycle) gate() (resume, pause <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resume == nil && l.pause == nil {
		l.pause = make(chan struct{})
	}
	if l.resume != nil {
		return l.resume, nil
	}
	return nil, l.pause
}

// update applies change under the lock and opens or closes the gate to
// match the result.
func (l *lifecycle) update(change func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	change()
	paused := l.disabled || l.busy != ""
	switch {
	case paused && l.resume == nil:
		l.resume = make(chan struct{})
		if l.pause != nil {
			close(l.pause)
			l.pause = nil
		}
	case !paused && l.resume != nil:
		close(l.resume)
		l.resume = nil
	}
}

// schedulingState is the node's schedulingState.
func (l *lifecycle) schedulingState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.disabled {
		return schedulingDisabled
	}
	return schedulingEnabled
}

// state is the state a restart shows (rebooting, reimaging), or "".
func (l *lifecycle) state() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.busy
}

// boot is the node's last boot: the last restart, else booted.
func (l *lifecycle) boot(booted time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bootTime.IsZero() {
		return booted
	}
	return l.bootTime
}

// background runs f as background work of the node, unless it is stopping.
func (l *lifecycle) background(f func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := l.ctx
	if l.closed || ctx == nil || ctx.Err() != nil {
		return false
	}
	l.ops.Go(func() { f(ctx) })
	return true
}

// normOption is a task option as protocol spells it; "" is requeue and
// retaineddata acts as taskcompletion.
func normOption(o string) string {
	switch strings.ToLower(o) {
	case "", protocol.OptionRequeue:
		return protocol.OptionRequeue
	case protocol.OptionRetainedData:
		return protocol.OptionTaskCompletion
	}
	return strings.ToLower(o)
}

// validOption checks a task option of a node command.
func validOption(o string) error {
	switch normOption(o) {
	case protocol.OptionRequeue, protocol.OptionTerminate, protocol.OptionTaskCompletion:
		return nil
	}
	return &cmdError{CodeInvalidInput, "The option " + o + " is not one of requeue, terminate, taskcompletion, retaineddata."}
}

// cmdScheduling turns the node's task scheduling on or off.
func (w *Worker) cmdScheduling(req protocol.SchedulingRequest) error {
	if err := validOption(req.Option); err != nil {
		return err
	}
	var gen int
	w.life.update(func() {
		w.life.disabled = !req.Enable
		w.life.gen++
		gen = w.life.gen
	})
	w.pokeRecord()
	if req.Enable {
		w.log.Info("scheduling enabled")
		return nil
	}
	opt := normOption(req.Option)
	w.log.Info("scheduling disabled", "option", opt)
	if opt != protocol.OptionTaskCompletion {
		// Until the next scheduling request: the tasks the node takes once
		// enabled again are not this request's.
		current := func() bool {
			w.life.mu.Lock()
			defer w.life.mu.Unlock()
			return w.life.gen == gen
		}
		w.life.background(func(ctx context.Context) { w.endTasks(ctx, opt, msgTerminatedDisable, current) })
	}
	return nil
}

// cmdReboot restarts the agent in the background: see protocol.RebootRequest.
func (w *Worker) cmdReboot(req protocol.RebootRequest) error {
	if err := validOption(req.Option); err != nil {
		return err
	}
	state := nodeRebooting
	if req.Reimage {
		state = nodeReimaging
	}
	var busy string
	w.life.update(func() {
		busy = w.life.busy
		if busy == "" {
			w.life.busy = state
		}
	})
	switch busy {
	case "":
	case nodeReimaging:
		return &cmdError{"NodeBeingReimaged", "The node is being reimaged."}
	default:
		return &cmdError{"NodeBeingRebooted", "The node is being rebooted."}
	}
	w.pokeRecord()
	opt := normOption(req.Option)
	ok := w.life.background(func(ctx context.Context) {
		defer func() {
			w.life.update(func() { w.life.busy = "" })
			w.pokeRecord()
		}()
		w.log.InfoContext(ctx, "restarting the node agent", "state", state, "option", opt)
		if !w.endTasks(ctx, opt, msgTerminatedReboot, func() bool { return true }) {
			return
		}
		if req.Reimage {
			w.wipe(ctx)
		}
		if !sleepCtx(ctx, rebootPause) {
			return
		}
		w.life.update(func() { w.life.bootTime = time.Now() })
		w.log.InfoContext(ctx, "node agent restarted", "state", state)
	})
	if !ok {
		w.life.update(func() { w.life.busy = "" })
		return &cmdError{"OperationNotValidOnNode", "The node is stopping."}
	}
	return nil
}

// endTasks handles the tasks the node holds per option (requeue them,
// terminate them, or let them complete) and waits until it holds none,
// while still holds. It reports false if ctx ended or still stopped
// holding first.
func (w *Worker) endTasks(ctx context.Context, option, reason string, still func() bool) bool {
	var cause error = errRequeued
	if option == protocol.OptionTerminate {
		cause = &terminated{reason: reason}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if !still() {
			return false
		}
		if option != protocol.OptionTaskCompletion {
			w.cancelHeld(cause)
		}
		w.mu.Lock()
		n := len(w.held)
		w.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// cancelHeld cancels every held task that has started with cause; a task
// that is to be terminated and has not started yet ends without starting.
// A requeued task that has not started is caught by the next call.
func (w *Worker) cancelHeld(cause error) {
	var term *terminated
	isTerm := errors.As(cause, &term)
	w.mu.Lock()
	defer w.mu.Unlock()
	for t := range w.held {
		switch {
		case t.settling:
		case t.cancel != nil:
			t.cancel(cause)
		case isTerm:
			t.pending = term
		}
	}
}

// wipe empties the node's directories for a reimage: task directories,
// shared and startup. Application packages stay installed (the worker
// tracks them in memory; natch reimages the agent, not the machine), and
// the retention journal's entries for the removed task directories expire
// on their own.
func (w *Worker) wipe(ctx context.Context) {
	for _, d := range []string{"workitems", "shared", "startup"} {
		dir := filepath.Join(w.rootDir, filepath.FromSlash(d))
		entries, err := os.ReadDir(dir)
		if err != nil {
			w.log.WarnContext(ctx, "reimage: read directory", "dir", dir, "err", err)
			continue
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				w.log.WarnContext(ctx, "reimage: remove", "path", filepath.Join(dir, e.Name()), "err", err)
			}
		}
	}
}

// initLifecycle takes the scheduling state over from the stored record, so
// that a disabled node stays disabled across agent restarts.
func (w *Worker) initLifecycle(rec protocol.NodeRecord) {
	w.life.update(func() { w.life.disabled = rec.SchedulingState == schedulingDisabled })
}

// nodeState is the state the node shows: a restart's, else idle or running
// by the running tasks (state "" asks for the latter).
func (w *Worker) nodeState(state string) string {
	if state != "" {
		return state
	}
	return w.life.state()
}
