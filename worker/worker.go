package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/blob"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
	"github.com/natch-io/natch/worker/run"
	"github.com/natch-io/natch/worker/stage"
)

// ErrNodeRemoved is returned by Run when the node's record was deleted or set
// to leavingpool or preempted by someone else (the scaler removing the node,
// a preemption): the worker requeued its tasks and stopped. It is a normal
// way for a worker to end.
var ErrNodeRemoved = errors.New("worker: node removed from the pool")

// Causes of a task's cancellation.
var (
	errShutdown = errors.New("worker shutting down")
	errCutOff   = errors.New("cut off from NATS for longer than AckWait")
)

// terminated is the cancellation cause of a task terminated by request.
type terminated struct{ reason string }

func (t *terminated) Error() string { return "terminated: " + t.reason }

// Worker is a node agent. Create it with New and start it with Run.
type Worker struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	runner  Runner
	log     *slog.Logger
	poolKey string
	nodeKey string
	started atomic.Bool

	// Set by prepare, read-only afterwards.
	rootDir   string
	root      *os.Root
	poolID    string
	slots     int
	vmSize    string
	ipAddress string
	version   string
	ackWait   time.Duration
	baseEnv   []string
	nodes     jetstream.KeyValue
	recordKey string
	journal   *journal
	bootTime  time.Time
	stager    *stage.Stager
	slotCh    chan struct{} // a token per slot in use or taken for the queue's head (prefetch.go)
	settleCh  chan struct{} // a token per finished task whose result is being reported
	rep       reporter      // batches the completion reports (report.go)
	runners   runners       // goroutines that run tasks, reused (runners.go)

	mu             sync.Mutex // guards the fields below
	held           map[*task]struct{}
	drops          []dropRule // DropQueued commands still applied to arriving tasks (drop.go)
	running        int
	runningSlots   int
	totalRun       int
	totalSucceeded int

	poke chan struct{}   // asks the record writer for a prompt write
	acks chan pendingAck // async publishes whose PubAck is checked in the background
	logs chan logCopy    // task logs to copy to the object store in the background
	rec  recordState     // owned by the record writer after prepare

	apps    appState      // application packages (apppkg.go)
	life    lifecycle     // scheduling state and restarts (lifecycle.go)
	start   startState    // the pool's start task (starttask.go)
	prep    prepState     // job preparation and release tasks (jobprep.go)
	metrics nodeMetrics   // resource samples for the node record (metrics.go)
	mi      miState       // multi-instance tasks (multiinstance.go)
	pf      prefetchState // tasks waiting for a slot (prefetch.go)

	removed    context.CancelCauseFunc // stops fetching with ErrNodeRemoved
	cancelWork context.CancelCauseFunc // cancels running tasks
	gone       atomic.Bool             // the node was removed by someone else
}

// task is a task message the worker holds: fetched and not yet settled.
type task struct {
	msg      taskMsg
	tm       protocol.TaskMessage
	delivery int
	slots    int
	dir      string
	mi       *miTask   // a multi-instance task's instance (multiinstance.go); nil for other tasks
	started  time.Time // when it got its slots (set before runTask)

	// Guarded by Worker.mu.
	cancel   context.CancelCauseFunc // set once the attempt is under way
	pending  *terminated             // a terminate request that came before the start
	running  bool
	settling bool
	cut      bool
	lastSent time.Time // last InProgress attempt
	lastOK   time.Time // last InProgress that went out on a live connection
}

// name is the task's "job/task" as the node record lists it.
func (t *task) name() string { return t.tm.JobID + "/" + t.tm.Task.ID }

// Run registers the node, pulls and runs tasks until ctx is cancelled or
// the node is removed, then stops: it stops fetching, gives running tasks
// ShutdownGrace, kills and requeues what still runs, and deletes the node
// record. It returns nil after a graceful stop and ErrNodeRemoved if the
// node was removed. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker: Run may be called only once")
	}
	if w.runner == nil {
		r := run.New()
		defer r.Close()
		w.runner = r
	}
	cons, err := w.prepare(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer w.root.Close()

	stopCtx, removed := context.WithCancelCause(ctx)
	defer removed(nil)
	workCtx, cancelWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelWork(nil)
	settleCtx, cancelSettle := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSettle()
	w.removed, w.cancelWork = removed, cancelWork

	pull, err := newPuller(w.nc, w.js, topology.TasksStream, cons.CachedInfo().Name, w.cfg.PollWait)
	if err != nil {
		w.deleteRecord(context.WithoutCancel(ctx))
		return fmt.Errorf("worker: %w", err)
	}
	pull.gate = w.life.gate
	if cons.CachedInfo().Config.PriorityPolicy == jetstream.PriorityPolicyPrioritized {
		// nodeFillType pack: the busier this node, the sooner it is served.
		pull.priority = w.packPriority
	}
	sub, err := w.nc.Subscribe(topology.NodeSubject(w.cfg.Account, w.nodeKey, "*"), w.handleCommand)
	var dropSub *nats.Subscription
	if err == nil {
		dropSub, err = w.nc.Subscribe(topology.PoolDropSubject(w.cfg.Account, w.poolKey), w.onDropQueued) // drop.go
		if err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		_ = pull.close()
		w.deleteRecord(context.WithoutCancel(ctx))
		return fmt.Errorf("worker: subscribe to node commands: %w", err)
	}

	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	w.life.start(bgCtx)
	bg.Go(func() { w.checkAcks(bgCtx) })
	bg.Go(func() { w.reportLoop(settleCtx) })
	bg.Go(func() { w.progressLoop(bgCtx) })
	bg.Go(func() { w.janitor(bgCtx) })
	if !w.cfg.NoLogCopies {
		bg.Go(func() { w.logCopyLoop(bgCtx) })
	}
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	var recWG sync.WaitGroup
	recWG.Go(func() { w.recordLoop(recCtx) })
	w.pokeRecord() // starting → idle
	w.log.InfoContext(ctx, "node ready", "slots", w.slots, "root_dir", w.rootDir, "ack_wait", w.ackWait)

	var tasks sync.WaitGroup
	if w.startTaskGate(stopCtx, workCtx, &tasks) {
		w.fetchLoop(stopCtx, workCtx, settleCtx, pull, &tasks)
	}
	if err := pull.close(); err != nil {
		w.log.WarnContext(ctx, "unsubscribe pull replies", "err", err)
	}
	w.hurryReporter() // no new tasks: report the finishing ones without lingering

	// Stop: fetching has ended. Give running tasks their grace (none when
	// the node was removed), then kill and requeue them.
	done := make(chan struct{})
	go func() { tasks.Wait(); close(done) }()
	if w.gone.Load() {
		w.log.WarnContext(ctx, "node removed from the pool: requeueing running tasks")
	} else {
		w.log.InfoContext(ctx, "stopping: waiting for running tasks", "grace", w.cfg.ShutdownGrace)
		if !waitFor(done, w.cfg.ShutdownGrace) {
			cancelWork(errShutdown)
		}
	}
	if !waitFor(done, w.cfg.ShutdownGrace) {
		w.log.WarnContext(ctx, "giving up reporting task results")
		cancelSettle()
		<-done
	}
	w.stopReporter() // every task is settled: nothing waits for a report any more
	w.runners.stop()
	if err := errors.Join(sub.Unsubscribe(), dropSub.Unsubscribe()); err != nil {
		w.log.WarnContext(ctx, "unsubscribe node commands", "err", err)
	}
	w.closePrep()
	stopBG()
	bg.Wait()
	w.life.wait()
	stopRec()
	recWG.Wait()
	if w.gone.Load() {
		return ErrNodeRemoved
	}
	w.deleteRecord(context.WithoutCancel(ctx))
	w.log.InfoContext(ctx, "node stopped")
	return nil
}

// onRemoved stops the worker at once when its node was removed from the
// pool: no more fetching, and running tasks are requeued without grace.
func (w *Worker) onRemoved() {
	w.gone.Store(true)
	w.removed(ErrNodeRemoved)
	w.cancelWork(ErrNodeRemoved)
}

// waitFor waits for done at most d and reports whether it was closed.
func waitFor(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// prepare lays out the root directory, reads the pool, finds the consumer
// and registers the node ("starting"). JetStream steps are retried until
// ctx is done, so a worker may start before the service.
func (w *Worker) prepare(ctx context.Context) (jetstream.Consumer, error) {
	w.bootTime = time.Now()
	root, err := filepath.Abs(w.cfg.RootDir)
	if err != nil {
		return nil, fmt.Errorf("worker: root dir: %w", err)
	}
	for _, d := range []string{"shared", "startup", "applications", "workitems", "fsmounts", RetentionDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("worker: create node directories: %w", err)
		}
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	w.rootDir = root
	if w.root, err = os.OpenRoot(root); err != nil {
		return nil, fmt.Errorf("worker: open root dir: %w", err)
	}
	w.journal = newJournal(filepath.Join(root, filepath.FromSlash(RetentionDir)), w.cfg.RetentionSweep)
	w.ipAddress = ipAddress()
	w.version = agentVersion()
	w.recordKey = topology.NodeKey(w.cfg.Account, w.poolKey, w.nodeKey)

	var cons jetstream.Consumer
	wait := 100 * time.Millisecond
	for {
		cons, err = w.connect(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, ErrNodeRemoved) {
			w.root.Close()
			return nil, err
		}
		w.log.WarnContext(ctx, "waiting for natch's streams and buckets", "err", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			w.root.Close()
			return nil, ctx.Err()
		}
		wait = min(2*wait, 5*time.Second)
	}
	cacheDir := filepath.Join(root, "volatile", "natch-blobcache")
	if w.cfg.BlobCacheMaxBytes < 0 {
		cacheDir = ""
	}
	w.stager, err = stage.New(stage.Config{
		Blob: blob.Config{Account: w.cfg.Account, JetStream: w.js, ConnectionString: w.cfg.StorageConnectionString,
			Logger: w.log},
		CacheDir:      cacheDir,
		CacheMaxBytes: max(w.cfg.BlobCacheMaxBytes, 0),
		Logger:        w.log,
	})
	if err != nil {
		w.root.Close()
		return nil, fmt.Errorf("worker: %w", err)
	}
	w.slotCh = make(chan struct{}, w.slots)
	w.initPrefetch()
	// Enough settle tokens for a linger's worth of finished tasks waiting
	// for their batched report.
	w.settleCh = make(chan struct{}, max(8*w.slots, 64))
	w.baseEnv = w.nodeEnv()
	w.installPoolPackages(ctx)
	return cons, nil
}

// connect does prepare's JetStream steps once.
func (w *Worker) connect(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pools, err := w.js.KeyValue(ctx, topology.PoolsBucket)
	if err != nil {
		return nil, fmt.Errorf("pools bucket: %w", err)
	}
	w.poolID, w.slots, w.vmSize = w.cfg.PoolID, w.cfg.Slots, w.cfg.VMSize
	entry, err := pools.Get(ctx, topology.PoolKey(w.cfg.Account, w.poolKey))
	switch {
	case err == nil:
		var p batch.Pool
		if err := json.Unmarshal(entry.Value(), &p); err != nil {
			return nil, fmt.Errorf("decode pool %s: %w", w.cfg.PoolID, err)
		}
		w.poolID = p.ID
		if w.slots == 0 {
			w.slots = 1
			if p.TaskSlotsPerNode != nil && *p.TaskSlotsPerNode > 0 {
				w.slots = *p.TaskSlotsPerNode
			}
		}
		if w.vmSize == "" {
			w.vmSize = p.VMSize
		}
		w.apps.poolRefs = p.ApplicationPackageReferences
		w.start.init(p.StartTask)
	case errors.Is(err, jetstream.ErrKeyNotFound) && w.cfg.Slots > 0:
		// The pool record is optional when the slots are given.
	default:
		return nil, fmt.Errorf("read pool %s: %w", w.cfg.PoolID, err)
	}
	if w.poolID == "" {
		w.poolID = w.cfg.PoolID
	}
	cons, err := topology.EnsurePoolConsumer(ctx, w.js, w.cfg.Account, w.poolKey, 0, false)
	if err != nil {
		return nil, err
	}
	w.ackWait = cons.CachedInfo().Config.AckWait
	if w.ackWait <= 0 {
		w.ackWait = 30 * time.Second
	}
	if w.nodes, err = w.js.KeyValue(ctx, topology.NodesBucket); err != nil {
		return nil, fmt.Errorf("nodes bucket: %w", err)
	}
	if err := w.register(ctx); err != nil {
		return nil, err
	}
	return cons, nil
}

// nodeEnv is the environment every task starts from: the worker's own
// environment and the node-wide AZ_BATCH_* variables.
func (w *Worker) nodeEnv() []string {
	dedicated := "true"
	if w.cfg.LowPriority {
		dedicated = "false"
	}
	env := os.Environ()
	return append(env[:len(env):len(env)],
		"AZ_BATCH_ACCOUNT_NAME="+w.cfg.Account,
		"AZ_BATCH_ACCOUNT_URL="+w.cfg.AccountURL,
		"AZ_BATCH_POOL_ID="+w.poolID,
		"AZ_BATCH_NODE_ID="+w.cfg.NodeID,
		"AZ_BATCH_NODE_IS_DEDICATED="+dedicated,
		"AZ_BATCH_NODE_ROOT_DIR="+w.rootDir,
		"AZ_BATCH_NODE_SHARED_DIR="+filepath.Join(w.rootDir, "shared"),
		"AZ_BATCH_NODE_STARTUP_DIR="+filepath.Join(w.rootDir, "startup"),
		"AZ_BATCH_NODE_MOUNTS_DIR="+filepath.Join(w.rootDir, "fsmounts"),
	)
}

// fetchLoop pulls tasks while stopCtx lives and queues them for startLoop,
// which starts each once it has its slots (prefetch.go). A pull request
// asks for as many messages as the node may hold at that moment, so no
// fetched task waits unacknowledged for a slot beyond what prefetching
// allows. When it ends, the queued tasks are given back.
func (w *Worker) fetchLoop(stopCtx, workCtx, settleCtx context.Context, pull *puller, tasks *sync.WaitGroup) {
	var starter sync.WaitGroup
	starter.Go(func() { w.startLoop(stopCtx, workCtx, settleCtx, tasks) })
	defer func() {
		starter.Wait()
		w.giveBack(context.WithoutCancel(stopCtx), workCtx, settleCtx, tasks)
	}()
	pack := pull.priority != nil
	backlog := false // the last delivery said the pool has more tasks
	wait := 50 * time.Millisecond
	for {
		batch := w.pullBatch(backlog, pack)
		if batch == 0 && !pull.waiting() {
			select { // until slots are freed
			case <-w.pf.wake:
			case <-stopCtx.Done():
				return
			}
			continue
		}
		msg, err := pull.next(stopCtx, batch)
		if err != nil {
			if stopCtx.Err() != nil {
				return
			}
			level := slog.LevelWarn
			if errors.Is(err, errDisconnected) {
				level = slog.LevelDebug // the connection's own handlers report it
			}
			w.log.Log(stopCtx, level, "pull task", "err", err, "retry_in", wait)
			if !sleepCtx(stopCtx, wait) {
				return
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 50 * time.Millisecond
		if msg == nil {
			if !pull.waiting() {
				backlog = false // the request ended without a message
			}
			continue
		}
		tm := taskMsg{msg, w.nc}
		backlog = tm.NumPending() > 0
		if t := w.accept(stopCtx, tm); t != nil {
			w.enqueue(t)
		}
	}
}

// accept decodes a fetched message and holds it. A message that can never
// run is terminated.
func (w *Worker) accept(ctx context.Context, msg taskMsg) *task {
	t := &task{msg: msg}
	reject := func(why string, err error) *task {
		w.log.ErrorContext(ctx, "dropping an invalid task message", "subject", msg.Subject(), "reason", why, "err", err)
		if err := msg.TermWithReason(why); err != nil {
			w.log.WarnContext(ctx, "terminate invalid task message", "err", err)
		}
		return nil
	}
	if err := json.Unmarshal(msg.Data(), &t.tm); err != nil {
		return reject("undecodable task message", err)
	}
	if err := batch.ValidJobID("jobId", t.tm.JobID); err != nil {
		return reject("invalid job id", err)
	}
	if err := batch.ValidID("id", t.tm.Task.ID); err != nil {
		return reject("invalid task id", err)
	}
	delivery, err := msg.NumDelivered()
	if err != nil {
		return reject("no JetStream metadata", err)
	}
	t.delivery = delivery
	t.slots = 1
	if rs := t.tm.Task.RequiredSlots; rs != nil && *rs > 1 {
		t.slots = min(*rs, w.slots)
	}
	t.dir = w.taskDir(t.tm.JobID, t.tm.Task.ID)
	if t.tm.Task.MultiInstanceSettings.Instances() > 1 && !w.admitInstance(ctx, t) { // multiinstance.go
		return nil
	}
	now := time.Now()
	t.lastSent, t.lastOK = now, now
	w.mu.Lock()
	w.held[t] = struct{}{}
	w.mu.Unlock()
	return t
}

// taskDir is a task's directory, $AZ_BATCH_NODE_ROOT_DIR/workitems/<job>/job-1/<task>.
// The ids are valid (letters, digits, '-' and '_'), and the root is clean,
// so plain concatenation gives what filepath.Join would, without its Clean.
func (w *Worker) taskDir(jobID, taskID string) string {
	if w.rootDir == string(filepath.Separator) {
		return filepath.Join(w.rootDir, "workitems", jobID, "job-1", taskID)
	}
	const sep = string(filepath.Separator)
	return w.rootDir + sep + "workitems" + sep + jobID + sep + "job-1" + sep + taskID
}

// forget drops a settled task.
func (w *Worker) forget(t *task) {
	w.mu.Lock()
	delete(w.held, t)
	w.mu.Unlock()
}

// releaseSlots gives back n slot tokens and wakes the fetch loop.
func (w *Worker) releaseSlots(n int) {
	for range n {
		<-w.slotCh
	}
	if n > 0 {
		signal(w.pf.wake)
	}
}

// sleepCtx sleeps d or until ctx is done, and reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
