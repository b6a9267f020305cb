package producer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
	"github.com/natch-io/natch/shared/topology"
)

// NATSConfig configures a NATSClient.
type NATSConfig struct {
	// Conn is the connection to the NATS server or cluster natch runs on.
	// Required. The client does not close it.
	Conn *nats.Conn
	// Account is the account name (lower case, as natch stores it). Required.
	Account string
	// Timeout bounds one API request whose context has no deadline.
	// Defaults to 10s.
	Timeout time.Duration
	// MaxInFlight is how many SubmitTasks publishes may await their
	// JetStream ack at once. Defaults to 1024.
	MaxInFlight int
	// AckTimeout is how long one publish waits for its ack before it is
	// retried. Defaults to 10s.
	AckTimeout time.Duration
	// MaxRetryTime is how long SubmitTasks keeps retrying one task's
	// publish (with exponential backoff) before it gives up. Defaults to 2m.
	MaxRetryTime time.Duration
	// MaxParallel is how many addtaskcollection requests AddTasks has in
	// flight at once. Defaults to 4.
	MaxParallel int
	// Logger logs publish retries. Defaults to discarding.
	Logger *slog.Logger
}

func (c NATSConfig) withDefaults() NATSConfig {
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.MaxInFlight = cmp.Or(c.MaxInFlight, 1024)
	c.AckTimeout = cmp.Or(c.AckTimeout, 10*time.Second)
	c.MaxRetryTime = cmp.Or(c.MaxRetryTime, 2*time.Minute)
	c.MaxParallel = cmp.Or(c.MaxParallel, 4)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c NATSConfig) validate() error {
	switch {
	case c.Conn == nil:
		return errors.New("producer: NATSConfig.Conn is required")
	case c.Account == "":
		return errors.New("producer: NATSConfig.Account is required")
	case c.Timeout < 0 || c.AckTimeout < 0 || c.MaxRetryTime < 0:
		return errors.New("producer: NATSConfig durations must not be negative")
	case c.MaxInFlight < 0 || c.MaxParallel < 0:
		return errors.New("producer: NATSConfig.MaxInFlight and MaxParallel must not be negative")
	}
	return nil
}

// NATSClient speaks natch's API over NATS request/reply: each operation is
// a request to natch.api.<account>.<op> carrying a protocol.APIRequest,
// answered by a protocol.APIResponse with the status and body the REST API
// would give. It offers the same operations as Client (file downloads
// excepted) plus SubmitTasks, the fast path that publishes tasks straight to
// the submit stream. A NATSClient is safe for concurrent use.
//
// NATS carries no SharedKey signature: who may publish on natch.api.<account>.>
// and natch.submit.<account>.> is decided by the NATS server's own
// authorization (users, accounts, permissions).
type NATSClient struct {
	scheduleOps
	cfg NATSConfig
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

// NewNATS returns a NATSClient. It does no I/O.
func NewNATS(cfg NATSConfig) (*NATSClient, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(cfg.Conn,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("producer: jetstream: %w", err)
	}
	c := &NATSClient{cfg: cfg, nc: cfg.Conn, js: js,
		log: cfg.Logger.With("component", "producer", "account", cfg.Account)}
	c.scheduleOps = scheduleOps{c}
	return c, nil
}

// roundTrip implements transport.
func (c *NATSClient) roundTrip(ctx context.Context, cl *call, out any) error {
	req := cl.ids
	req.Query = cl.query
	if cl.next != "" {
		q, err := nextQuery(cl.next)
		if err != nil {
			return err
		}
		req.Query = q
	}
	body, err := encodeBody(cl.body)
	if err != nil {
		return fmt.Errorf("%s: encode body: %w", cl.op, err)
	}
	req.Body = body
	var resp protocol.APIResponse
	if err := c.request(ctx, cl.op, req, &resp); err != nil {
		return err
	}
	if resp.Status >= 300 {
		return parseError(resp.Status, resp.Body)
	}
	if out == nil || len(resp.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", cl.op, err)
	}
	return nil
}

// request sends one NATS API request and decodes the reply envelope.
func (c *NATSClient) request(ctx context.Context, op string, req any, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	subject := topology.APISubject(c.cfg.Account, op)
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: no natch dispatcher answers on %s: %w", op, subject, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("%s: decode reply: %w", op, err)
	}
	return nil
}

// nextQuery turns an odata.nextLink into the query of the next NATS
// request: its parameters (the continuation token and the original OData
// options) without api-version.
func nextQuery(link string) (url.Values, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("odata.nextLink %q: %w", link, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("odata.nextLink %q: %w", link, err)
	}
	q.Del("api-version")
	return q, nil
}

// AddPool creates a pool (op pool.add).
func (c *NATSClient) AddPool(ctx context.Context, p *batch.Pool) error {
	if p == nil {
		return errors.New("add pool: nil pool")
	}
	return c.roundTrip(ctx, ptr(opAddPool(p)), nil)
}

// GetPool returns a pool (op pool.get).
func (c *NATSClient) GetPool(ctx context.Context, id string) (*batch.Pool, error) {
	return get[batch.Pool](ctx, c, opGetPool(id))
}

// ListPools returns every pool matching opts (op pool.list), page by page.
func (c *NATSClient) ListPools(ctx context.Context, opts *ListOptions) ([]batch.Pool, error) {
	return collect(iterate[batch.Pool](ctx, c, opListPools(opts)))
}

// DeletePool starts deleting a pool (op pool.delete).
func (c *NATSClient) DeletePool(ctx context.Context, id string) error {
	return c.roundTrip(ctx, ptr(opDeletePool(id)), nil)
}

// ResizePool changes a pool's target node counts (op pool.resize).
func (c *NATSClient) ResizePool(ctx context.Context, id string, r *batch.PoolResize) error {
	if r == nil {
		return errors.New("resize pool: nil resize")
	}
	return c.roundTrip(ctx, ptr(opResizePool(id, r)), nil)
}

// ListNodes returns every compute node of a pool matching opts (op node.list).
func (c *NATSClient) ListNodes(ctx context.Context, poolID string, opts *ListOptions) ([]batch.ComputeNode, error) {
	return collect(iterate[batch.ComputeNode](ctx, c, opListNodes(poolID, opts)))
}

// GetNode returns a compute node (op node.get).
func (c *NATSClient) GetNode(ctx context.Context, poolID, nodeID string) (*batch.ComputeNode, error) {
	return get[batch.ComputeNode](ctx, c, opGetNode(poolID, nodeID))
}

// PreemptNode evicts a low-priority node as a spot eviction would
// (natch-only op node.preempt).
func (c *NATSClient) PreemptNode(ctx context.Context, poolID, nodeID string) error {
	return c.roundTrip(ctx, ptr(opPreemptNode(poolID, nodeID)), nil)
}

// AddJob creates a job (op job.add).
func (c *NATSClient) AddJob(ctx context.Context, j *batch.Job) error {
	if j == nil {
		return errors.New("add job: nil job")
	}
	return c.roundTrip(ctx, ptr(opAddJob(j)), nil)
}

// GetJob returns a job (op job.get).
func (c *NATSClient) GetJob(ctx context.Context, id string) (*batch.Job, error) {
	return get[batch.Job](ctx, c, opGetJob(id))
}

// ListJobs returns every job matching opts (op job.list).
func (c *NATSClient) ListJobs(ctx context.Context, opts *ListOptions) ([]batch.Job, error) {
	return collect(iterate[batch.Job](ctx, c, opListJobs(opts)))
}

// DeleteJob starts deleting a job and its tasks (op job.delete).
func (c *NATSClient) DeleteJob(ctx context.Context, id string) error {
	return c.roundTrip(ctx, ptr(opDeleteJob(id)), nil)
}

// TerminateJob terminates a job (op job.terminate); reason may be empty.
func (c *NATSClient) TerminateJob(ctx context.Context, id, reason string) error {
	return c.roundTrip(ctx, ptr(opTerminateJob(id, reason)), nil)
}

// TaskCounts returns a job's task counts by state (op job.taskcounts).
func (c *NATSClient) TaskCounts(ctx context.Context, jobID string) (*batch.TaskCountsResult, error) {
	return get[batch.TaskCountsResult](ctx, c, opTaskCounts(jobID))
}

// AddTask adds one task to a job (op task.add) and waits for the answer.
func (c *NATSClient) AddTask(ctx context.Context, jobID string, t *batch.Task) error {
	if t == nil {
		return errors.New("add task: nil task")
	}
	return c.roundTrip(ctx, ptr(opAddTask(jobID, t)), nil)
}

// AddTasks adds many tasks to a job through op task.addcollection, in
// chunks, exactly as Client.AddTasks does over REST: one result per task, in
// order. For the highest rates use SubmitTasks instead.
func (c *NATSClient) AddTasks(ctx context.Context, jobID string, tasks []batch.Task) ([]batch.TaskAddResult, error) {
	return addTasks(ctx, c, jobID, tasks, c.cfg.MaxParallel, c.maxCollectionBytes())
}

// GetTask returns a task (op task.get).
func (c *NATSClient) GetTask(ctx context.Context, jobID, taskID string) (*batch.Task, error) {
	return get[batch.Task](ctx, c, opGetTask(jobID, taskID))
}

// ListTasks returns every task of a job matching opts (op task.list).
func (c *NATSClient) ListTasks(ctx context.Context, jobID string, opts *ListOptions) ([]batch.Task, error) {
	return collect(c.IterTasks(ctx, jobID, opts))
}

// IterTasks yields the tasks of a job matching opts one by one, a page at
// a time. It yields a non-nil error once and stops.
func (c *NATSClient) IterTasks(ctx context.Context, jobID string, opts *ListOptions) iter.Seq2[batch.Task, error] {
	return iterate[batch.Task](ctx, c, opListTasks(jobID, opts))
}

// DeleteTask deletes a task (op task.delete).
func (c *NATSClient) DeleteTask(ctx context.Context, jobID, taskID string) error {
	return c.roundTrip(ctx, ptr(opDeleteTask(jobID, taskID)), nil)
}

// TerminateTask ends a task (op task.terminate).
func (c *NATSClient) TerminateTask(ctx context.Context, jobID, taskID string) error {
	return c.roundTrip(ctx, ptr(opTerminateTask(jobID, taskID)), nil)
}

// maxCollectionBytes is the largest addtaskcollection body that fits a NATS
// message along with its request envelope.
func (c *NATSClient) maxCollectionBytes() int {
	const envelope = 4 << 10 // {"jobId":…,"body":…} around the collection
	if mp := int(c.nc.MaxPayload()); mp > envelope {
		return min(batch.MaxCollectionBytes, mp-envelope)
	}
	return batch.MaxCollectionBytes
}
