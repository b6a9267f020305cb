// Package service is the dispatcher's service layer: every API operation
// (pools, nodes, jobs, job schedules, tasks), the task state machine driven by worker
// events, the submit-stream ingester and the job task counts. The REST and
// NATS transports in dispatcher/api both call it, so an operation behaves the
// same whichever way it arrives.
package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/natch-io/natch/dispatcher/metrics"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/apppkg"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// Config configures the service.
type Config struct {
	// AckWait is the pool consumers' ack wait (how long a silent worker keeps
	// a task before it is redelivered). Defaults to 30s.
	AckWait time.Duration
	// CountsFlush is how often task count changes are written. Defaults to 50ms.
	CountsFlush time.Duration
	// Logger defaults to discard.
	Logger *slog.Logger
	// Metrics records what the service does; nil records nothing.
	Metrics *metrics.Metrics
	// MaxPackageSize is the largest application package (zip) a publish
	// accepts, in bytes. Defaults to 1 GiB.
	MaxPackageSize int64
	// PackageTempDir is where a package being published is spooled while
	// it is checked. Defaults to os.TempDir().
	PackageTempDir string
	// PackageLimits bound what a published package may expand to.
	PackageLimits apppkg.Limits
	// Replicas is the replica count of the package buckets the service
	// creates. Defaults to 1.
	Replicas int
	// MinRecurrence is the shortest recurrenceInterval and startWindow a
	// job schedule may have. Defaults to Azure's batch.MinRecurrence (1
	// minute); tests and demos lower it.
	MinRecurrence time.Duration
}

func (c Config) withDefaults() Config {
	c.AckWait = cmp.Or(c.AckWait, 30*time.Second)
	c.CountsFlush = cmp.Or(c.CountsFlush, 50*time.Millisecond)
	c.MaxPackageSize = cmp.Or(c.MaxPackageSize, 1<<30)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.MinRecurrence = cmp.Or(c.MinRecurrence, batch.MinRecurrence)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Service implements natch's operations over the state store.
type Service struct {
	cfg    Config
	st     *state.Store
	js     jetstream.JetStream
	nc     *nats.Conn
	log    *slog.Logger
	m      *metrics.Metrics
	counts *counter
	jobs   jobCache
	recs   *recordCache
	deps   *revCache[state.Dep]
	gates  pumper
	prio   priorities
	// Background work (job teardowns) runs under bgCtx and is waited for by Run.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// New builds a service. It does no I/O.
func New(nc *nats.Conn, st *state.Store, cfg Config) *Service {
	cfg = cfg.withDefaults()
	s := &Service{cfg: cfg, st: st, js: st.JetStream(), nc: nc, log: cfg.Logger.With("component", "dispatcher"), m: cfg.Metrics}
	s.counts = newCounter(s)
	s.recs = newRecordCache()
	s.deps = newDepCache()
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	return s
}

// Store returns the state store.
func (s *Service) Store() *state.Store { return s.st }

// publish publishes a message to JetStream and waits for the ack, retrying
// transient failures until ctx ends.
func (s *Service) publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	delay := 10 * time.Millisecond
	for {
		ack, err := s.js.PublishMsg(ctx, msg)
		if err == nil {
			return ack, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		s.log.WarnContext(ctx, "publish retry", "subject", msg.Subject, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay = min(2*delay, time.Second)
	}
}

// taskMsg builds the ready-task message of a task record. A task that
// asked for an authentication token gets a fresh one in its environment.
func (s *Service) taskMsg(ctx context.Context, account string, job *state.JobRecord, t *state.TaskRecord) (*nats.Msg, error) {
	m := protocol.TaskMessage{Account: account, PoolID: job.PoolInfo.PoolID, JobID: job.ID,
		Attempt: t.Attempt, JobEnvironment: job.CommonEnvironmentSettings}
	// Only what a node needs to run the task: the message is encoded once
	// and decoded by a worker for every attempt, so the record's state,
	// timestamps and dependencies stay out of it.
	m.Task = batch.Task{ID: t.ID, DisplayName: t.DisplayName, CommandLine: t.CommandLine,
		ContainerSettings: t.ContainerSettings, ResourceFiles: t.ResourceFiles, OutputFiles: t.OutputFiles,
		EnvironmentSettings: t.EnvironmentSettings, Constraints: t.Constraints, RequiredSlots: t.RequiredSlots,
		UserIdentity: t.UserIdentity, MultiInstanceSettings: t.MultiInstanceSettings}
	if t.WantsJobToken() {
		tok, err := s.JobToken(ctx, account, job.ID)
		if err != nil {
			return nil, err
		}
		m.ServiceEnvironment = []batch.NameValue{{Name: "AZ_BATCH_AUTHENTICATION_TOKEN", Value: tok}}
	}
	m.AppPackages = t.AppPackages
	m.JobPreparation = job.JobPreparationTask
	b, err := m.AppendJSON(make([]byte, 0, 512))
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(topology.TaskSubject(account, t.PoolKey, batch.Key(job.ID), batch.Key(t.ID)))
	msg.Data = b
	msg.Header.Set(jetstream.MsgIDHeader, m.MsgID())
	return msg, nil
}

// purgeQueued removes a task's ready message from its pool's queue, so
// that no worker picks it up.
func (s *Service) purgeQueued(ctx context.Context, account, poolKey, jobKey, taskKey string) error {
	str, err := s.js.Stream(ctx, topology.TasksStream)
	if err != nil {
		return err
	}
	return str.Purge(ctx, jetstream.WithPurgeSubject(topology.TaskSubject(account, poolKey, jobKey, taskKey)))
}

// dropQueued tells the pool's nodes that the job's queued tasks (or one of
// them, taskID) must not start (protocol.DropQueued): call it after the
// messages were purged from the pool's queue, for those a node already took
// and holds for a slot. Best effort: a node that misses it starts the task,
// and the dispatcher kills it or ignores its result, as before.
func (s *Service) dropQueued(ctx context.Context, account, poolKey, jobID, taskID string) {
	str, err := s.js.Stream(ctx, topology.TasksStream) // reads the stream's info, now
	if err != nil {
		s.log.WarnContext(ctx, "drop queued tasks on nodes", "job", jobID, "task", taskID, "err", err)
		return
	}
	data, err := json.Marshal(protocol.DropQueued{JobID: jobID, TaskID: taskID, UpToSeq: str.CachedInfo().State.LastSeq})
	if err == nil {
		err = s.nc.Publish(topology.PoolDropSubject(account, poolKey), data)
	}
	if err != nil {
		s.log.WarnContext(ctx, "drop queued tasks on nodes", "job", jobID, "task", taskID, "err", err)
	}
}

// killOnNode asks the node running a task to kill it. Best effort: a node
// that is gone has nothing to kill.
func (s *Service) killOnNode(ctx context.Context, account string, t *state.TaskRecord, jobID, reason string) {
	if t.NodeInfo == nil || t.NodeInfo.NodeID == "" {
		return
	}
	b, _ := json.Marshal(protocol.TerminateTask{JobID: jobID, TaskID: t.ID, Attempt: t.Attempt, Reason: reason})
	subj := topology.NodeSubject(account, batch.Key(t.NodeInfo.NodeID), protocol.CmdTerminateTask)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.nc.RequestWithContext(rctx, subj, b); err != nil && !errors.Is(err, nats.ErrNoResponders) {
		s.log.WarnContext(ctx, "terminate on node", "node", t.NodeInfo.NodeID, "task", t.ID, "err", err)
	}
}

// Run runs the service's background loops (task events, submit stream,
// counts, job schedules) until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.counts.run(gctx) })
	g.Go(func() error { return s.runEvents(gctx) })
	g.Go(func() error { return s.runSubmit(gctx) })
	g.Go(func() error { return s.runSchedules(gctx) })
	g.Go(func() error { return s.runPriorities(gctx) })
	err := g.Wait()
	s.bgCancel() // an interrupted teardown resumes at the next start (Reconcile)
	s.bg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *batch.Error
	if errors.As(err, &be) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
