// Package topology names natch's NATS subjects, JetStream streams, consumers
// and KV buckets, and creates them. Every component builds subjects through
// these functions so that producers and consumers always agree.
//
//	natch.api.<account>.<operation>                   NATS API (request/reply; operations like "pool.get")
//	natch.submit.<account>.<job>                      stream NATCH_SUBMIT: fast-path task adds
//	natch.tasks.<account>.<pool>.<job>.<task>         stream NATCH_TASKS: ready tasks, one consumer per pool
//	natch.tasks.<account>.<pool>.<job>.<task>.<i>     the same: instance i ≥ 1 of a multi-instance task
//	natch.events.<account>.<job>.<task>               stream NATCH_EVENTS: task events from workers
//	natch.events.<account>.nodes.<node>.batch         stream NATCH_EVENTS: batches of a node's task events
//	natch.node.<account>.<node>.<command>             node commands (request/reply, core NATS)
//	natch.metrics.<account>.<pool>                    stream NATCH_METRICS: autoscale samples, kept MetricsMaxAge
//
// Job, pool, task and node tokens are storage keys (lower-cased ids, see
// batch.Key); account names are lower case already.
package topology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	TasksStream = "NATCH_TASKS"
	// HeldStream holds the ready tasks of jobs with maxParallelTasks until
	// the dispatcher releases them to their pool's queue.
	HeldStream    = "NATCH_HELD"
	EventsStream  = "NATCH_EVENTS"
	SubmitStream  = "NATCH_SUBMIT"
	MetricsStream = "NATCH_METRICS"
)

// MetricsMaxAge is how long the autoscale samples of a pool are kept: the
// longest history a formula can look back on.
const MetricsMaxAge = time.Hour

// KV bucket names.
const (
	AccountsBucket     = "natch-accounts"
	PoolsBucket        = "natch-pools"
	JobsBucket         = "natch-jobs"
	TasksBucket        = "natch-tasks"
	NodesBucket        = "natch-nodes"
	CountsBucket       = "natch-counts"
	SubmitErrorsBucket = "natch-submit-errors"
	// DepsBucket holds task dependencies by parent: who waits for a task
	// (or an integer task id of a range), and how it ended.
	DepsBucket = "natch-deps"
	// ApplicationsBucket holds application records (protocol.ApplicationRecord),
	// keyed ApplicationKey.
	ApplicationsBucket = "natch-applications"
	SchedulesBucket    = "natch-schedules"
	// JobPrepBucket holds job preparation and release task states, one key
	// per job and node (protocol.JobPrepStatus), written by the workers.
	JobPrepBucket = "natch-jobprep"
	// RendezvousBucket holds where the instances of multi-instance task
	// attempts meet (protocol.Rendezvous), keyed RendezvousKey. Entries
	// expire RendezvousTTL after their last change.
	RendezvousBucket = "natch-rendezvous"
)

// RendezvousTTL is how long a multi-instance rendezvous (and so a
// task's subtask information) outlives its last change.
const RendezvousTTL = 7 * 24 * time.Hour

// SubtaskSubject is where the ready message of instance i (≥ 1) of a
// multi-instance task is published: the task's subject plus the instance.
func SubtaskSubject(account, pool, job, task string, i int) string {
	return TaskSubject(account, pool, job, task) + "." + strconv.Itoa(i)
}

// SubtasksFilter matches the ready messages of every subtask of a task.
func SubtasksFilter(account, pool, job, task string) string {
	return TaskSubject(account, pool, job, task) + ".*"
}

// RendezvousKey is the rendezvous bucket key of one attempt of a
// multi-instance task.
func RendezvousKey(account, job, task string, attempt int) string {
	return account + "." + job + "." + task + "." + strconv.Itoa(attempt)
}

// TaskRendezvousKeys matches the rendezvous keys of every attempt of a task.
func TaskRendezvousKeys(account, job, task string) string {
	return account + "." + job + "." + task + ".*"
}

// JobRendezvousKeys matches every rendezvous key of a job.
func JobRendezvousKeys(account, job string) string { return account + "." + job + ".>" }

// ApplicationsContainer is the blob container (in each account's object
// store) that holds application package zips, named protocol.PackageBlob.
const ApplicationsContainer = "natch-applications"

// Consumer names of the dispatcher.
const (
	EventsConsumer = "dispatcher-events"
	SubmitConsumer = "dispatcher-submit"
)

// SubmitErrorTTL is how long a failed fast-path add stays visible.
const SubmitErrorTTL = 7 * 24 * time.Hour

// TaskSubject is where a ready task of a pool is published.
func TaskSubject(account, pool, job, task string) string {
	return "natch.tasks." + account + "." + pool + "." + job + "." + task
}

// PoolTasksFilter matches every ready task of a pool.
func PoolTasksFilter(account, pool string) string {
	return "natch.tasks." + account + "." + pool + ".>"
}

// JobTasksFilter matches every ready task of a job in a pool.
func JobTasksFilter(account, pool, job string) string {
	return "natch.tasks." + account + "." + pool + "." + job + ".>"
}

// HeldSubject is where a ready task of a job with maxParallelTasks waits
// for its turn.
func HeldSubject(account, job, task string) string {
	return "natch.held." + account + "." + job + "." + task
}

// JobHeldFilter matches every held task of a job.
func JobHeldFilter(account, job string) string { return "natch.held." + account + "." + job + ".>" }

// HeldConsumer is the durable name of a job's consumer of held tasks.
func HeldConsumer(account, job string) string { return "held_" + account + "_" + job }

// PoolConsumer is the durable name of a pool's pull consumer.
func PoolConsumer(account, pool string) string { return "pool_" + account + "_" + pool }

// EventSubject is where a worker reports a task's progress.
func EventSubject(account, job, task string) string {
	return "natch.events." + account + "." + job + "." + task
}

// EventBatchSubject is where a worker reports a batch of task events
// (protocol.TaskEventBatch, header protocol.EventBatchHeader). It has six
// tokens, so it never collides with an EventSubject.
func EventBatchSubject(account, node string) string {
	return "natch.events." + account + ".nodes." + node + ".batch"
}

// SubmitSubject is where submitters publish tasks to add to a job
// (Nats-Msg-Id = SubmitMsgID).
func SubmitSubject(account, job string) string { return "natch.submit." + account + "." + job }

// SubmitMsgID is the Nats-Msg-Id of a task published to the submit stream:
// "<account>/<job key>/<task id>". The stream's duplicate window spans every
// job and account, so the id must name all three; a retried publish of the
// same task is stored once.
func SubmitMsgID(account, job, taskID string) string {
	return account + "/" + strings.ToLower(job) + "/" + taskID
}

// MetricsSubject is where the scaler records a pool's autoscale samples.
func MetricsSubject(account, pool string) string { return "natch.metrics." + account + "." + pool }

// APISubject is the NATS API subject of an operation.
func APISubject(account, op string) string { return "natch.api." + account + "." + op }

// APIFilter matches every NATS API operation of every account.
const APIFilter = "natch.api.*.>"

// NodeSubject is the subject of a command to a node.
func NodeSubject(account, node, command string) string {
	return "natch.node." + account + "." + node + "." + command
}

// PoolDropSubject is where the dispatcher tells a pool's nodes which
// queued tasks must not start (protocol.DropQueued); every node of the pool
// subscribes to it.
func PoolDropSubject(account, pool string) string {
	return "natch.pooldrop." + account + "." + pool
}

// TaskKey is a task's key in the tasks bucket.
func TaskKey(account, job, task string) string { return account + "." + job + "." + task }

// JobTaskKeys matches every task key of a job.
func JobTaskKeys(account, job string) string { return account + "." + job + ".*" }

// DepKey is the deps bucket key of a task id a task may depend on.
func DepKey(account, job, task string) string { return account + "." + job + ".t." + task }

// DepRangeKey is the deps bucket key of an integer task id of a dependency
// range: the first task whose id is that integer to end resolves it.
func DepRangeKey(account, job string, n int) string {
	return account + "." + job + ".n." + strconv.Itoa(n)
}

// JobDepKeys matches every deps key of a job.
func JobDepKeys(account, job string) string { return account + "." + job + ".>" }

// JobKey is a job's key in the jobs and counts buckets.
func JobKey(account, job string) string { return account + "." + job }

// ScheduleKey is a job schedule's key in the schedules bucket.
func ScheduleKey(account, schedule string) string { return account + "." + schedule }

// PoolKey is a pool's key in the pools bucket.
func PoolKey(account, pool string) string { return account + "." + pool }

// ApplicationKey is an application's key in the applications bucket.
func ApplicationKey(account, app string) string { return account + "." + app }

// NodeKey is a node's key in the nodes bucket.
func NodeKey(account, pool, node string) string { return account + "." + pool + "." + node }

// JobPrepKey is the key of a node's job preparation and release state in
// JobPrepBucket.
func JobPrepKey(account, job, node string) string { return account + "." + job + "." + node }

// JobPrepKeys matches every JobPrepKey of a job.
func JobPrepKeys(account, job string) string { return account + "." + job + ".*" }

// PoolNodeKeys matches every node key of a pool.
func PoolNodeKeys(account, pool string) string { return account + "." + pool + ".*" }

// Options tune the storage natch creates.
type Options struct {
	// Replicas of the streams and buckets (3 on a cluster). 0 keeps what
	// exists (CurrentReplicas), so a command without the setting, such as
	// natch account create, does not shrink a cluster's replicas.
	Replicas int
	Memory   bool          // memory storage instead of file storage (tests)
	AckWait  time.Duration // how long a worker may hold a task without a progress ack; defaults to 30s
	// EventsMaxAge is how long task events are kept. An event not applied
	// by then (no dispatcher ran for that long) is lost. Defaults to 48h.
	EventsMaxAge time.Duration
}

func (o Options) withDefaults() Options {
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.EventsMaxAge == 0 {
		o.EventsMaxAge = 48 * time.Hour
	}
	return o
}

func (o Options) storage() jetstream.StorageType {
	if o.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// Ensure creates (or updates) every stream, consumer and bucket natch needs.
// It is idempotent and safe to run from several processes at once.
func Ensure(ctx context.Context, js jetstream.JetStream, o Options) error {
	o = o.withDefaults()
	if o.Replicas == 0 {
		r, err := CurrentReplicas(ctx, js)
		if err != nil {
			return err
		}
		o.Replicas = r
	}
	streams := []jetstream.StreamConfig{
		{Name: TasksStream, Subjects: []string{"natch.tasks.>"}, Retention: jetstream.WorkQueuePolicy,
			Duplicates: 2 * time.Minute},
		{Name: HeldStream, Subjects: []string{"natch.held.>"}, Retention: jetstream.WorkQueuePolicy,
			Duplicates: 2 * time.Minute},
		// Events are drained as fast as they come: with work-queue retention
		// every ack would delete a message and, the stream being empty, its
		// block file too. Limits retention keeps acked events and drops them in
		// whole blocks once they are EventsMaxAge old.
		{Name: EventsStream, Subjects: []string{"natch.events.>"}, Retention: jetstream.LimitsPolicy,
			MaxAge: o.EventsMaxAge, Duplicates: 2 * time.Minute},
		{Name: SubmitStream, Subjects: []string{"natch.submit.>"}, Retention: jetstream.WorkQueuePolicy,
			Duplicates: 2 * time.Minute},
		// One small message per autoscale pool per second; a restarted
		// scaler reads the last hour back.
		{Name: MetricsStream, Subjects: []string{"natch.metrics.>"}, Retention: jetstream.LimitsPolicy,
			MaxAge: MetricsMaxAge, Duplicates: 2 * time.Minute},
	}
	for _, sc := range streams {
		sc.Storage = o.storage()
		sc.Replicas = o.Replicas
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	buckets := []jetstream.KeyValueConfig{
		{Bucket: AccountsBucket, History: 1},
		{Bucket: PoolsBucket, History: 1},
		{Bucket: JobsBucket, History: 1},
		{Bucket: TasksBucket, History: 1},
		{Bucket: NodesBucket, History: 1},
		{Bucket: CountsBucket, History: 1},
		{Bucket: SubmitErrorsBucket, History: 1, TTL: SubmitErrorTTL},
		{Bucket: DepsBucket, History: 1},
		{Bucket: ApplicationsBucket, History: 1},
		{Bucket: SchedulesBucket, History: 1},
		{Bucket: JobPrepBucket, History: 1},
		{Bucket: RendezvousBucket, History: 1, TTL: RendezvousTTL},
	}
	for _, bc := range buckets {
		bc.Storage = o.storage()
		bc.Replicas = o.Replicas
		if err := ensureBucket(ctx, js, bc); err != nil {
			return err
		}
	}
	consumers := map[string]jetstream.ConsumerConfig{
		EventsStream: {Durable: EventsConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: 30 * time.Second, MaxDeliver: -1, MaxAckPending: 20000},
		SubmitStream: {Durable: SubmitConsumer, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: 30 * time.Second, MaxDeliver: -1, MaxAckPending: 20000},
	}
	for stream, cc := range consumers {
		if _, err := js.CreateOrUpdateConsumer(ctx, stream, cc); err != nil {
			return fmt.Errorf("ensure consumer %s: %w", cc.Durable, err)
		}
	}
	return nil
}

// ClusterNotReady reports whether a JetStream error is one a cluster gives
// while it forms or while a server is away: worth retrying for a while.
func ClusterNotReady(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10005, // no suitable peers for placement
			10008, // JetStream system temporarily unavailable
			10009: // JetStream cluster can not handle request (no meta leader)
			return true
		}
		return apiErr.Code == 503
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}

// CurrentReplicas is the replica count of natch's existing streams (that
// of the tasks stream), or 1 when there are none yet.
func CurrentReplicas(ctx context.Context, js jetstream.JetStream) (int, error) {
	st, err := js.Stream(ctx, TasksStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", TasksStream, err)
	}
	return max(st.CachedInfo().Config.Replicas, 1), nil
}

// ensureBucket creates a bucket, or updates it when its replicas, history
// or TTL changed, and makes it read from its leader when replicated. An
// unchanged bucket is left alone: an update through nats.go turns direct
// gets back on for a moment, and a process bound to the bucket meanwhile
// would keep using them.
func ensureBucket(ctx context.Context, js jetstream.JetStream, bc jetstream.KeyValueConfig) error {
	st, err := js.Stream(ctx, "KV_"+bc.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateKeyValue(ctx, bc)
		if errors.Is(err, jetstream.ErrBucketExists) {
			err = nil // another process just created it
		}
	case err != nil:
	default:
		c := st.CachedInfo().Config
		if c.Replicas != bc.Replicas || c.MaxMsgsPerSubject != int64(bc.History) || c.MaxAge != bc.TTL {
			_, err = js.CreateOrUpdateKeyValue(ctx, bc)
		}
	}
	if err != nil {
		return fmt.Errorf("ensure bucket %s: %w", bc.Bucket, err)
	}
	return LeaderReads(ctx, js, "KV_"+bc.Bucket)
}

// LeaderReads makes a replicated stream (a KV bucket's KV_<bucket>, an
// object store's OBJ_<bucket>) answer reads from its leader only, so that
// a read sees every write acknowledged before it. Direct gets (nats.go's
// default for buckets) are answered by any replica, and a follower may not
// have applied a write yet: on a busy three-server cluster about one read in
// twenty right after a write missed it (an API "add, then get" answered
// "not found"). A stream with one replica keeps direct gets. Creating or
// updating a bucket with nats.go turns direct gets (back) on, so call this
// after each, and bind the bucket afresh afterwards (a handle keeps the
// setting it was bound with).
func LeaderReads(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Replicas <= 1 || !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: leader reads: %w", stream, err)
	}
	return nil
}

// PackGroup is the priority group of the pull consumer of a pool whose
// nodeFillType is pack: its workers' pull requests carry a priority, and
// JetStream serves the lowest first (see worker's puller).
const PackGroup = "natch"

// PoolConsumerConfig is the pull consumer that a pool's workers share.
// pack makes it a prioritized consumer (taskSchedulingPolicy pack).
func PoolConsumerConfig(account, pool string, ackWait time.Duration, pack bool) jetstream.ConsumerConfig {
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	c := jetstream.ConsumerConfig{
		Durable:       PoolConsumer(account, pool),
		FilterSubject: PoolTasksFilter(account, pool),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1, // nothing accepted is ever lost
		MaxAckPending: 100000,
		MaxWaiting:    4096,
	}
	if pack {
		c.PriorityGroups, c.PriorityPolicy = []string{PackGroup}, jetstream.PriorityPolicyPrioritized
	}
	return c
}

// EnsurePoolConsumer creates a pool's consumer if it does not exist and
// returns it.
func EnsurePoolConsumer(ctx context.Context, js jetstream.JetStream, account, pool string, ackWait time.Duration, pack bool) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, TasksStream, PoolConsumer(account, pool))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("pool consumer %s: %w", pool, err)
	}
	c, err = js.CreateOrUpdateConsumer(ctx, TasksStream, PoolConsumerConfig(account, pool, ackWait, pack))
	if err != nil {
		return nil, fmt.Errorf("create pool consumer %s: %w", pool, err)
	}
	return c, nil
}
