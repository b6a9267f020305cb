package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/config"
)

// apiVersion is the api-version every request carries.
const apiVersion = "2022-10-01.16.0"

// client makes SharedKey-signed REST calls to one natch. It is a few lines
// of net/http on purpose: the benchmarks measure natch, and a bare client
// keeps the client's own cost small and visible.
type client struct {
	base    string
	account string
	key     []byte
	http    *http.Client
}

// newClient returns a client for the service described by conn. conns is
// the number of keep-alive connections to keep open (one per concurrent
// caller is enough).
func newClient(conn config.Connection, conns int) (*client, error) {
	key, err := auth.DecodeKey(conn.Key)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{base: strings.TrimRight(conn.URL, "/"), account: conn.Account, key: key,
		http: &http.Client{Transport: tr}}, nil
}

// close drops the client's idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// apiError is a response with an unexpected status.
type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, e.body)
}

// call sends a signed request with a JSON body (nil for none or a
// pre-encoded []byte) and expects status want; it decodes the answer into
// out when out is not nil. Every call is bounded by 60s.
func (c *client) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var (
		rd  io.Reader
		n   = int64(-1)
		raw []byte
	)
	if body != nil {
		if b, ok := body.([]byte); ok {
			raw = b
		} else {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return fmt.Errorf("%s %s: encode body: %w", method, path, err)
			}
		}
		rd, n = bytes.NewReader(raw), int64(len(raw))
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+sep+"api-version="+apiVersion, rd)
	if err != nil {
		return err
	}
	auth.Sign(req, c.account, c.key, n)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return &apiError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Wire shapes the benchmarks read (the fields they need, nothing more).
type (
	taskAddResult struct {
		Status string          `json:"status"`
		TaskID string          `json:"taskId"`
		Error  json.RawMessage `json:"error,omitempty"`
	}
	taskAddCollectionResult struct {
		Value []taskAddResult `json:"value"`
	}
	taskCounts struct {
		Active    int `json:"active"`
		Running   int `json:"running"`
		Completed int `json:"completed"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	}
	taskCountsResult struct {
		TaskCounts taskCounts `json:"taskCounts"`
	}
	taskExecutionInfo struct {
		StartTime *time.Time `json:"startTime"`
		EndTime   *time.Time `json:"endTime"`
		ExitCode  *int       `json:"exitCode"`
		Result    string     `json:"result"`
	}
	cloudTask struct {
		ID            string             `json:"id"`
		State         string             `json:"state"`
		ExecutionInfo *taskExecutionInfo `json:"executionInfo"`
	}
	taskList struct {
		Value    []cloudTask `json:"value"`
		NextLink string      `json:"odata.nextLink"`
	}
	computeNode struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	nodeList struct {
		Value []computeNode `json:"value"`
	}
)

// createPool creates a pool of nodes local nodes with slots task slots each.
func (c *client) createPool(ctx context.Context, id string, nodes, slots int) error {
	return c.call(ctx, http.MethodPost, "/pools", map[string]any{
		"id": id, "vmSize": "standard_d2s_v3", "targetDedicatedNodes": nodes, "taskSlotsPerNode": slots,
	}, http.StatusCreated, nil)
}

// createJob creates a job on a pool.
func (c *client) createJob(ctx context.Context, id, poolID string) error {
	return c.call(ctx, http.MethodPost, "/jobs", map[string]any{
		"id": id, "poolInfo": map[string]string{"poolId": poolID},
	}, http.StatusCreated, nil)
}

// waitIdle waits until the pool has exactly nodes nodes, all idle.
func (c *client) waitIdle(ctx context.Context, poolID string, nodes int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last nodeList
	for {
		if err := c.call(ctx, http.MethodGet, "/pools/"+poolID+"/nodes", nil, http.StatusOK, &last); err != nil {
			return err
		}
		idle := 0
		for _, n := range last.Value {
			if n.State == "idle" {
				idle++
			}
		}
		if len(last.Value) == nodes && idle == nodes {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool %s: want %d idle nodes, have %+v after %v", poolID, nodes, last.Value, timeout)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// counts returns a job's task counts.
func (c *client) counts(ctx context.Context, jobID string) (taskCounts, error) {
	var r taskCountsResult
	err := c.call(ctx, http.MethodGet, "/jobs/"+jobID+"/taskcounts", nil, http.StatusOK, &r)
	return r.TaskCounts, err
}

// addCollection posts one pre-encoded addtaskcollection body and checks
// that every task was accepted; it returns how many were.
func (c *client) addCollection(ctx context.Context, jobID string, body []byte) (int, error) {
	var r taskAddCollectionResult
	if err := c.call(ctx, http.MethodPost, "/jobs/"+jobID+"/addtaskcollection", body, http.StatusOK, &r); err != nil {
		return 0, err
	}
	for _, t := range r.Value {
		if !strings.EqualFold(t.Status, "success") {
			return 0, fmt.Errorf("addtaskcollection: task %s: %s %s", t.TaskID, t.Status, t.Error)
		}
	}
	return len(r.Value), nil
}

// collections encodes n tasks running commandLine as addtaskcollection
// bodies of at most 100 tasks, with ids prefix-0 … prefix-(n-1).
func collections(prefix, commandLine string, n int) ([][]byte, error) {
	type task struct {
		ID          string `json:"id"`
		CommandLine string `json:"commandLine"`
	}
	var out [][]byte
	for start := 0; start < n; start += 100 {
		end := min(start+100, n)
		tasks := make([]task, 0, end-start)
		for i := start; i < end; i++ {
			tasks = append(tasks, task{ID: fmt.Sprintf("%s-%d", prefix, i), CommandLine: commandLine})
		}
		b, err := json.Marshal(map[string]any{"value": tasks})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// sleep sleeps d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
