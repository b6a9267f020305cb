package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/worker/run"
)

// Runner runs one task attempt's process; *run.Runner is the implementation.
// Cancelling ctx kills the process and gives an Interrupted result.
type Runner interface {
	Run(ctx context.Context, spec run.Spec) run.Result
}

var _ Runner = (*run.Runner)(nil)

// Config configures a Worker.
type Config struct {
	// Account is the account name (lower case). Required.
	Account string
	// PoolID is the pool the node belongs to. Required.
	PoolID string
	// NodeID is the node's id, unique in the account. Required.
	NodeID string
	// RootDir is the node's root directory (AZ_BATCH_NODE_ROOT_DIR). Required.
	RootDir string
	// Slots is the number of task slots. 0 reads taskSlotsPerNode from the
	// pool record (1 if unset there).
	Slots int
	// VMSize is reported as the node's vmSize. Defaults to the pool's vmSize.
	VMSize string
	// LowPriority marks the node as a spot/low-priority node
	// (isDedicated=false). The zero value is a dedicated node.
	LowPriority bool
	// AccountURL is AZ_BATCH_ACCOUNT_URL, e.g. http://127.0.0.1:8765.
	AccountURL string
	// Heartbeat is how often the node record is refreshed. Defaults to 2s.
	Heartbeat time.Duration
	// ShutdownGrace is how long running tasks may continue after ctx is
	// cancelled before they are killed and requeued. Defaults to 10s.
	ShutdownGrace time.Duration
	// RunningReportDelay: the "running" event is published only if the
	// process still runs after this, so that a short task costs one event.
	// Defaults to 20ms.
	RunningReportDelay time.Duration
	// ReportLinger is how long a task's completion report may wait for
	// others to share its message: completions are published in batches
	// (protocol.TaskEventBatch), one when a batch holds 256 events or when
	// ReportLinger has passed since its first event; after a quiet spell
	// (no batch sent within ReportLinger) the first event goes out at once.
	// A finished task is acked once its batch is stored. Defaults to 5ms.
	ReportLinger time.Duration
	// RetentionSweep is how often expired task directories are removed.
	// Defaults to 1m.
	RetentionSweep time.Duration
	// PollWait is how long one pull request waits for a task on the server.
	// Defaults to 30s.
	PollWait time.Duration
	// StorageConnectionString is the account's linked Azure storage (an
	// account-key connection string, or "UseDevelopmentStorage=true"):
	// autoStorageContainerName resource files and bare output container
	// names then address Azure. Empty: the NATS object store.
	StorageConnectionString string
	// BlobCacheMaxBytes bounds the node's blob cache
	// (volatile/natch-blobcache). Defaults to 4 GiB; negative disables the
	// cache.
	BlobCacheMaxBytes int64
	// RendezvousTimeout is how long an instance of a multi-instance task
	// waits for the others to find nodes before it gives its node back.
	// Defaults to 1m.
	RendezvousTimeout time.Duration
	// Prefetch is how many task messages the node may hold beyond its
	// slots, waiting here for a slot, while its recent tasks are short (see
	// PrefetchBelow) and the pool has a backlog; pull requests then ask
	// for several messages at once. Defaults to twice the slots; negative
	// disables prefetching. Pools that pack tasks (nodeFillType pack) never
	// prefetch.
	Prefetch int
	// PrefetchBelow: the node prefetches only while the moving average of
	// its recent tasks' run time is below this. A prefetched task waits on
	// this node instead of in the stream, which is harmless only when the
	// tasks ahead of it end within milliseconds; with long tasks another
	// node must be able to take it. Defaults to 50ms; negative disables
	// prefetching.
	PrefetchBelow time.Duration
	// NoLogCopies turns off the background copies of tasks' stdout.txt and
	// stderr.txt to the object store container protocol.TaskLogsContainer.
	NoLogCopies bool
	// Runner runs the processes. Defaults to run.New().
	Runner Runner
	// Logger defaults to discarding.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Heartbeat = cmp.Or(c.Heartbeat, 2*time.Second)
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, 10*time.Second)
	c.RunningReportDelay = cmp.Or(c.RunningReportDelay, 20*time.Millisecond)
	c.ReportLinger = cmp.Or(c.ReportLinger, 5*time.Millisecond)
	c.RetentionSweep = cmp.Or(c.RetentionSweep, time.Minute)
	c.PollWait = cmp.Or(c.PollWait, 30*time.Second)
	c.RendezvousTimeout = cmp.Or(c.RendezvousTimeout, time.Minute)
	c.PrefetchBelow = cmp.Or(c.PrefetchBelow, 50*time.Millisecond)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Account == "":
		return errors.New("worker: Account is required")
	case c.PoolID == "":
		return errors.New("worker: PoolID is required")
	case c.NodeID == "":
		return errors.New("worker: NodeID is required")
	case c.RootDir == "":
		return errors.New("worker: RootDir is required")
	case c.Slots < 0:
		return errors.New("worker: Slots must not be negative")
	case c.Heartbeat < 0 || c.ShutdownGrace < 0 || c.RunningReportDelay < 0 || c.ReportLinger < 0 ||
		c.RetentionSweep < 0:
		return errors.New("worker: durations must not be negative")
	case c.PollWait < 2*time.Second && c.PollWait > 0:
		return errors.New("worker: PollWait must be at least 2s")
	}
	if err := batch.ValidID("poolId", c.PoolID); err != nil {
		return fmt.Errorf("worker: PoolID: %w", err)
	}
	if err := batch.ValidID("nodeId", c.NodeID); err != nil {
		return fmt.Errorf("worker: NodeID: %w", err)
	}
	return nil
}

// New returns a Worker; it does no I/O. Run starts it.
func New(nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Worker, error) {
	if nc == nil || js == nil {
		return nil, errors.New("worker: a NATS connection and a JetStream context are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:     cfg,
		nc:      nc,
		js:      js,
		runner:  cfg.Runner,
		poolKey: batch.Key(cfg.PoolID),
		nodeKey: batch.Key(cfg.NodeID),
		held:    make(map[*task]struct{}),
		poke:    make(chan struct{}, 1),
		acks:    make(chan pendingAck, 1024),
		logs:    make(chan logCopy, logQueue),
		rep:     newReporter(cfg.Account, batch.Key(cfg.NodeID)),
		runners: newRunners(),
	}
	w.log = cfg.Logger.With("component", "worker", "pool", cfg.PoolID, "node", cfg.NodeID)
	return w, nil
}
