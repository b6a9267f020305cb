package producer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
)

// Config configures a REST Client.
type Config struct {
	// URL is the origin of the REST API, e.g. "http://127.0.0.1:8765" (natch
	// up prints it and writes it to natch-data/connection.json). Required.
	URL string
	// Account is the account name. Required.
	Account string
	// Key is the account's base64 key. Required.
	Key string
	// HTTPClient sends the requests. Defaults to a client with
	// http.DefaultTransport and no overall timeout (calls are bounded by
	// their context and Timeout).
	HTTPClient *http.Client
	// UserAgent is the User-Agent header. Defaults to "natch-producer-go".
	UserAgent string
	// Timeout bounds one API call whose context has no deadline (file
	// downloads excepted: they stream for as long as the context allows).
	// Defaults to 60s.
	Timeout time.Duration
	// MaxParallel is how many addtaskcollection requests AddTasks has in
	// flight at once. Defaults to 4.
	MaxParallel int
}

func (c Config) withDefaults() Config {
	c.URL = strings.TrimRight(c.URL, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	c.UserAgent = cmp.Or(c.UserAgent, "natch-producer-go")
	c.Timeout = cmp.Or(c.Timeout, 60*time.Second)
	c.MaxParallel = cmp.Or(c.MaxParallel, 4)
	return c
}

func (c Config) validate() (*url.URL, []byte, error) {
	if c.URL == "" {
		return nil, nil, errors.New("producer: Config.URL is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("producer: Config.URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, nil, fmt.Errorf("producer: Config.URL %q must be an http(s) origin such as http://127.0.0.1:8765", c.URL)
	}
	if c.Account == "" {
		return nil, nil, errors.New("producer: Config.Account is required")
	}
	if c.Key == "" {
		return nil, nil, errors.New("producer: Config.Key is required")
	}
	key, err := auth.DecodeKey(c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("producer: Config.Key: %w", err)
	}
	if c.MaxParallel < 0 {
		return nil, nil, errors.New("producer: Config.MaxParallel must not be negative")
	}
	return u, key, nil
}

// Client is a client of natch's REST API, which is Azure Batch's data-plane
// API: every request carries api-version 2022-10-01.16.0 and is signed with
// the account key (SharedKey) exactly as the official SDK signs it. A Client
// is safe for concurrent use.
//
// Errors the service reports are returned as *batch.Error (compare with
// errors.Is against batch.ErrJobNotFound and friends, or errors.As to read
// Code, Message and Values); transport failures are returned wrapped.
type Client struct {
	scheduleOps
	cfg  Config
	base *url.URL
	key  []byte
}

// New returns a Client. It does no I/O.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, key, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, base: base, key: key}
	c.scheduleOps = scheduleOps{c}
	return c, nil
}

// roundTrip implements transport.
func (c *Client) roundTrip(ctx context.Context, cl *call, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, cl)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", cl.method, cl.path, err)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", cl.method, cl.path, err)
	}
	return nil
}

// send sends a call and returns the successful response, whose body the
// caller closes. A status ≥ 300 becomes a *batch.Error. GETs are retried
// on connection errors and on 429/5xx answers, re-signed each time.
func (c *Client) send(ctx context.Context, cl *call) (*http.Response, error) {
	target, err := c.target(cl)
	if err != nil {
		return nil, err
	}
	body, err := encodeBody(cl.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: encode body: %w", cl.method, cl.path, err)
	}
	attempt := func() (*http.Response, error) {
		req, err := c.newRequest(ctx, cl, target, body)
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		resp, err := c.cfg.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, backoff.Permanent(err)
			}
			return nil, err
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		apiErr := parseError(resp.StatusCode, data)
		if retryableStatus(resp.StatusCode) {
			return nil, apiErr
		}
		return nil, backoff.Permanent(apiErr)
	}
	if cl.method != http.MethodGet {
		resp, err := attempt()
		return resp, unwrapPermanent(err)
	}
	bo := backoff.WithContext(backoff.WithMaxRetries(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(250*time.Millisecond), backoff.WithMaxInterval(5*time.Second)), 3), ctx)
	resp, err := backoff.RetryWithData(attempt, bo)
	return resp, unwrapPermanent(err)
}

func unwrapPermanent(err error) error {
	var p *backoff.PermanentError
	if errors.As(err, &p) {
		return p.Err
	}
	return err
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// target is the URL of a call: the base URL plus the call's path and query,
// or the call's nextLink (absolute, followed verbatim as the SDK does) with
// api-version set.
func (c *Client) target(cl *call) (string, error) {
	if cl.next == "" {
		return c.cfg.URL + cl.path + "?" + encodeQuery(cl.query), nil
	}
	u, err := url.Parse(cl.next)
	if err != nil {
		return "", fmt.Errorf("odata.nextLink %q: %w", cl.next, err)
	}
	if !u.IsAbs() {
		u = c.base.ResolveReference(u)
	}
	u.RawQuery = setAPIVersion(u.RawQuery)
	return u.String(), nil
}

func (c *Client) newRequest(ctx context.Context, cl *call, target string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
	}
	ct := contentTypePlain
	if cl.model {
		ct = contentTypeModel
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept-Language", "en-US")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	bodyLen := int64(-1)
	if body != nil {
		bodyLen = int64(len(body))
	}
	auth.Sign(req, c.cfg.Account, c.key, bodyLen)
	return req, nil
}

// encodeQuery renders api-version first, then the OData options sorted by
// key, with values percent-encoded as encodeURIComponent does (%20 for a space).
func encodeQuery(q url.Values) string {
	var b strings.Builder
	b.WriteString("api-version=" + batch.APIVersion)
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			b.WriteString("&" + k + "=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	return b.String()
}

// setAPIVersion replaces the api-version of a raw query in place, or
// appends it, leaving every other parameter byte for byte as it was.
func setAPIVersion(raw string) string {
	parts := strings.Split(raw, "&")
	found := false
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil && dk == "api-version" {
			parts[i] = "api-version=" + batch.APIVersion
			found = true
		}
	}
	if !found {
		if raw == "" {
			return "api-version=" + batch.APIVersion
		}
		parts = append(parts, "api-version="+batch.APIVersion)
	}
	return strings.Join(parts, "&")
}

// AddPool creates a pool (POST /pools, 201).
func (c *Client) AddPool(ctx context.Context, p *batch.Pool) error {
	if p == nil {
		return errors.New("add pool: nil pool")
	}
	return c.roundTrip(ctx, ptr(opAddPool(p)), nil)
}

// GetPool returns a pool (GET /pools/{id}).
func (c *Client) GetPool(ctx context.Context, id string) (*batch.Pool, error) {
	return get[batch.Pool](ctx, c, opGetPool(id))
}

// ListPools returns every pool matching opts, following odata.nextLink.
func (c *Client) ListPools(ctx context.Context, opts *ListOptions) ([]batch.Pool, error) {
	return collect(iterate[batch.Pool](ctx, c, opListPools(opts)))
}

// DeletePool starts deleting a pool (DELETE /pools/{id}, 202); the pool
// shows state "deleting" until its nodes are gone.
func (c *Client) DeletePool(ctx context.Context, id string) error {
	return c.roundTrip(ctx, ptr(opDeletePool(id)), nil)
}

// ResizePool changes a pool's target node counts (POST /pools/{id}/resize, 202).
func (c *Client) ResizePool(ctx context.Context, id string, r *batch.PoolResize) error {
	if r == nil {
		return errors.New("resize pool: nil resize")
	}
	return c.roundTrip(ctx, ptr(opResizePool(id, r)), nil)
}

// ListNodes returns every compute node of a pool matching opts.
func (c *Client) ListNodes(ctx context.Context, poolID string, opts *ListOptions) ([]batch.ComputeNode, error) {
	return collect(iterate[batch.ComputeNode](ctx, c, opListNodes(poolID, opts)))
}

// GetNode returns a compute node (GET /pools/{pool}/nodes/{node}).
func (c *Client) GetNode(ctx context.Context, poolID, nodeID string) (*batch.ComputeNode, error) {
	return get[batch.ComputeNode](ctx, c, opGetNode(poolID, nodeID))
}

// PreemptNode evicts a low-priority node as a spot eviction would
// (natch-only: POST /pools/{pool}/nodes/{node}/natch-preempt, 202): the node
// turns preempted, its running tasks are requeued and the scaler starts a
// replacement.
func (c *Client) PreemptNode(ctx context.Context, poolID, nodeID string) error {
	return c.roundTrip(ctx, ptr(opPreemptNode(poolID, nodeID)), nil)
}

// AddJob creates a job (POST /jobs, 201).
func (c *Client) AddJob(ctx context.Context, j *batch.Job) error {
	if j == nil {
		return errors.New("add job: nil job")
	}
	return c.roundTrip(ctx, ptr(opAddJob(j)), nil)
}

// GetJob returns a job (GET /jobs/{id}).
func (c *Client) GetJob(ctx context.Context, id string) (*batch.Job, error) {
	return get[batch.Job](ctx, c, opGetJob(id))
}

// ListJobs returns every job matching opts, following odata.nextLink.
func (c *Client) ListJobs(ctx context.Context, opts *ListOptions) ([]batch.Job, error) {
	return collect(iterate[batch.Job](ctx, c, opListJobs(opts)))
}

// DeleteJob starts deleting a job and its tasks (DELETE /jobs/{id}, 202).
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	return c.roundTrip(ctx, ptr(opDeleteJob(id)), nil)
}

// TerminateJob terminates a job (POST /jobs/{id}/terminate, 202): its
// running tasks are ended and it becomes completed. reason may be empty.
func (c *Client) TerminateJob(ctx context.Context, id, reason string) error {
	return c.roundTrip(ctx, ptr(opTerminateJob(id, reason)), nil)
}

// TaskCounts returns a job's task counts by state (GET /jobs/{id}/taskcounts).
func (c *Client) TaskCounts(ctx context.Context, jobID string) (*batch.TaskCountsResult, error) {
	return get[batch.TaskCountsResult](ctx, c, opTaskCounts(jobID))
}

// AddTask adds one task to a job (POST /jobs/{job}/tasks, 201).
func (c *Client) AddTask(ctx context.Context, jobID string, t *batch.Task) error {
	if t == nil {
		return errors.New("add task: nil task")
	}
	return c.roundTrip(ctx, ptr(opAddTask(jobID, t)), nil)
}

// AddTasks adds many tasks to a job through addtaskcollection (POST
// /jobs/{job}/addtaskcollection). It splits them into chunks of at most 100
// tasks whose body stays under 1 MB, sends up to Config.MaxParallel chunks
// at once, and returns one result per task, in the order of tasks.
//
// A task the service refuses has a result with Status AddClientError or
// AddServerError and an Error (see AddError). A chunk the service rejects as
// a whole (for example JobNotFound) gives each of its tasks a result with
// that error, and the first such error is also returned: a nil error means
// every chunk was accepted, though single tasks may still have failed. A task
// too large for a request on its own fails with RequestBodyTooLarge without
// being sent. Retry the tasks whose Status is not AddSuccess; re-adding a
// task that was in fact added gives TaskExists.
func (c *Client) AddTasks(ctx context.Context, jobID string, tasks []batch.Task) ([]batch.TaskAddResult, error) {
	return addTasks(ctx, c, jobID, tasks, c.cfg.MaxParallel, batch.MaxCollectionBytes)
}

// GetTask returns a task (GET /jobs/{job}/tasks/{task}).
func (c *Client) GetTask(ctx context.Context, jobID, taskID string) (*batch.Task, error) {
	return get[batch.Task](ctx, c, opGetTask(jobID, taskID))
}

// ListTasks returns every task of a job matching opts, following
// odata.nextLink. For very large jobs prefer IterTasks, which holds one
// page at a time.
func (c *Client) ListTasks(ctx context.Context, jobID string, opts *ListOptions) ([]batch.Task, error) {
	return collect(c.IterTasks(ctx, jobID, opts))
}

// IterTasks yields the tasks of a job matching opts one by one, fetching a
// page (MaxResults) at a time. It yields a non-nil error once and stops.
func (c *Client) IterTasks(ctx context.Context, jobID string, opts *ListOptions) iter.Seq2[batch.Task, error] {
	return iterate[batch.Task](ctx, c, opListTasks(jobID, opts))
}

// DeleteTask deletes a task (DELETE /jobs/{job}/tasks/{task}, 200).
func (c *Client) DeleteTask(ctx context.Context, jobID, taskID string) error {
	return c.roundTrip(ctx, ptr(opDeleteTask(jobID, taskID)), nil)
}

// TerminateTask ends a task (POST /jobs/{job}/tasks/{task}/terminate, 204).
func (c *Client) TerminateTask(ctx context.Context, jobID, taskID string) error {
	return c.roundTrip(ctx, ptr(opTerminateTask(jobID, taskID)), nil)
}

// GetTaskFile streams a file of a task's directory into w (GET
// /jobs/{job}/tasks/{task}/files/{path}). path is relative to the task
// directory, e.g. "stdout.txt" or "wd/out/result.csv"; it travels as one
// path segment with "/" encoded as %2F, as the SDK sends it.
func (c *Client) GetTaskFile(ctx context.Context, jobID, taskID, path string, w io.Writer) error {
	cl := &call{method: http.MethodGet, path: pathOf("jobs", jobID, "tasks", taskID, "files", path)}
	resp, err := c.send(ctx, cl)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("get task file %s: %w", path, err)
	}
	return nil
}

// SubmitErrors returns the tasks of a job that were submitted through
// NATSClient.SubmitTasks and refused by the dispatcher (GET
// /jobs/{job}/submiterrors, a natch extension to the Azure API).
func (c *Client) SubmitErrors(ctx context.Context, jobID string) ([]SubmitError, error) {
	return submitErrors(ctx, c, jobID)
}

func ptr[T any](v T) *T { return &v }
