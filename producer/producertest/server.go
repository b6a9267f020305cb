// Package producertest runs an in-memory fake of natch's REST API for the
// tests of code that uses producer.Client (the natch CLI, programs that
// submit jobs). Like the real service it verifies every request's SharedKey
// signature and api-version, answers Azure-shaped bodies and BatchErrors
// with the Azure status codes, and pages lists with absolute odata.nextLink
// URLs. It keeps pools, nodes, jobs, tasks and task files in memory; tests
// move tasks along with UpdateTask and observe the traffic with Requests.
//
// It is a fake, not the dispatcher: nothing runs, and only the $filter
// "state eq '<state>'" is understood.
package producertest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natch-io/natch/shared/auth"
	"github.com/natch-io/natch/shared/batch"
)

// Account is the account name of every fake server.
const Account = "testacct"

// Key is the account key of every fake server (the test key of the SDK
// wire captures; not a secret).
const Key = "AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dzj6vH4/wYNFBsiKTA3PkVMU1phaG92fYSLkpmgp661vA=="

// Request is a request the server received and authenticated.
type Request struct {
	Method      string     // HTTP method
	Path        string     // the raw path as sent, still percent-encoded
	Query       url.Values // the query, decoded
	ContentType string     // the Content-Type header
	Body        []byte     // the body, empty for none
}

// Server is a fake natch REST API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's origin, e.g. http://127.0.0.1:41234.
	URL string

	key []byte
	srv *httptest.Server

	mu     sync.Mutex
	pools  map[string]*batch.Pool
	nodes  map[string][]batch.ComputeNode
	jobs   map[string]*batch.Job
	tasks  map[string]map[string]*batch.Task
	files  map[string][]byte
	reqs   []Request
	before func(*http.Request)
}

// NewServer starts a fake server; it stops when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake server outside a test (an Example, a demo); Close
// stops it.
func Start() *Server {
	key, _ := base64.StdEncoding.DecodeString(Key) // a valid constant
	s := &Server{key: key, pools: map[string]*batch.Pool{}, nodes: map[string][]batch.ComputeNode{},
		jobs: map[string]*batch.Job{}, tasks: map[string]map[string]*batch.Task{}, files: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Before sets a hook that runs before each authenticated request is
// handled, outside the server's lock: tests use it to change the state
// between two polls of a client.
func (s *Server) Before(f func(r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = f
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// Task returns a copy of a task, and whether it exists.
func (s *Server) Task(jobID, taskID string) (batch.Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[batch.Key(jobID)][batch.Key(taskID)]
	if !ok {
		return batch.Task{}, false
	}
	return *t, true
}

// UpdateTask changes a task in place (for example to complete it). It
// reports whether the task exists.
func (s *Server) UpdateTask(jobID, taskID string, f func(t *batch.Task)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[batch.Key(jobID)][batch.Key(taskID)]
	if ok {
		f(t)
	}
	return ok
}

// CompleteTask marks a task completed with an exit code, as a worker's
// report would.
func (s *Server) CompleteTask(jobID, taskID string, exitCode int) bool {
	return s.UpdateTask(jobID, taskID, func(t *batch.Task) {
		now := batch.At(time.Now())
		t.PreviousState, t.State, t.StateTransitionTime = t.State, batch.TaskCompleted, now
		result := batch.ResultSuccess
		var failure *batch.TaskFailureInformation
		if exitCode != 0 {
			result = batch.ResultFailure
			failure = &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: "FailureExitCode",
				Message: "The task exited with an exit code representing a failure"}
		}
		t.ExecutionInfo = &batch.TaskExecutionInformation{StartTime: now, EndTime: now, ExitCode: batch.Int(exitCode),
			Result: result, FailureInfo: failure}
		t.NodeInfo = &batch.ComputeNodeInformation{NodeID: "node-1"}
	})
}

// SetFile stores a file of a task's directory (path relative to it, such
// as "stdout.txt").
func (s *Server) SetFile(jobID, taskID, path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileKey(jobID, taskID, path)] = slices.Clone(data)
}

// AddNode adds a compute node to a pool's node list.
func (s *Server) AddNode(poolID string, n batch.ComputeNode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[batch.Key(poolID)] = append(s.nodes[batch.Key(poolID)], n)
}

func fileKey(job, task, path string) string {
	return batch.Key(job) + "/" + batch.Key(task) + "/" + path
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := s.authenticate(r); err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, batch.InvalidBody("", err.Error()))
		return
	}
	rawPath, _, _ := strings.Cut(r.RequestURI, "?")
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: rawPath, Query: r.URL.Query(),
		ContentType: r.Header.Get("Content-Type"), Body: body})
	before := s.before
	s.mu.Unlock()
	if before != nil {
		before(r)
	}
	var segs []string
	for _, p := range strings.Split(strings.Trim(rawPath, "/"), "/") {
		seg, err := url.PathUnescape(p)
		if err != nil {
			writeError(w, batch.Errorf(400, "InvalidUri", "The requested URI does not represent any resource on the server."))
			return
		}
		segs = append(segs, seg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, out, err := s.route(r, segs, body)
	if err != nil {
		writeError(w, err)
		return
	}
	if b, ok := out.([]byte); ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json;odata=minimalmetadata")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) authenticate(r *http.Request) error {
	account, sig, err := auth.ParseSharedKey(r.Header.Get("Authorization"))
	if err == nil && account != Account {
		err = auth.ErrSignature
	}
	if err == nil {
		err = auth.Verify(r, account, sig, [][]byte{s.key}, time.Now())
	}
	if err != nil {
		return batch.Errorf(http.StatusForbidden, "AuthenticationFailed",
			"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.").
			With("AuthenticationErrorDetail", err.Error())
	}
	if v := r.URL.Query().Get("api-version"); v != batch.APIVersion {
		return batch.Errorf(http.StatusBadRequest, "UnsupportedRequestVersion", "The specified api-version %q is not supported.", v)
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}

// writeError writes a BatchError body, with the RequestId and Time lines
// Azure appends to message.value.
func writeError(w http.ResponseWriter, err error) {
	e := batch.AsError(err)
	w.Header().Set("Content-Type", "application/json;odata=minimalmetadata")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(batch.WireError{
		Metadata: "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
		Code:     e.Code,
		Message: batch.WireMessage{Lang: "en-US", Value: e.Message + "\nRequestId:00000000-0000-0000-0000-000000000000\nTime:" +
			time.Now().UTC().Format(time.RFC3339Nano)},
		Values: e.Values,
	})
}

func decode(body []byte, v any) error { return batch.Decode(body, v) }

var errNotFound = batch.Errorf(http.StatusNotFound, "ResourceNotFound", "The specified resource does not exist.")

// route dispatches on method and path segments; the lock is held.
func (s *Server) route(r *http.Request, p []string, body []byte) (int, any, error) {
	m := r.Method
	switch {
	case len(p) == 1 && p[0] == "pools" && m == http.MethodPost:
		return s.addPool(body)
	case len(p) == 1 && p[0] == "pools" && m == http.MethodGet:
		return list(r, sortedValues(s.pools), func(p batch.Pool) string { return p.State })
	case len(p) == 2 && p[0] == "pools":
		pool, ok := s.pools[batch.Key(p[1])]
		if !ok {
			return 0, nil, batch.ErrPoolNotFound
		}
		switch m {
		case http.MethodGet:
			return http.StatusOK, pool, nil
		case http.MethodDelete:
			delete(s.pools, batch.Key(p[1]))
			return http.StatusAccepted, nil, nil
		}
	case len(p) == 3 && p[0] == "pools" && p[2] == "resize" && m == http.MethodPost:
		return s.resizePool(p[1], body)
	case len(p) == 3 && p[0] == "pools" && p[2] == "stopresize" && m == http.MethodPost:
		return s.stopResize(p[1])
	case len(p) == 3 && p[0] == "pools" && p[2] == "removenodes" && m == http.MethodPost:
		return s.removeNodes(p[1], body)
	case len(p) == 5 && p[0] == "pools" && p[2] == "nodes" && m == http.MethodPost:
		return s.nodeAction(p[1], p[3], p[4], body)
	case len(p) >= 3 && p[0] == "pools" && p[2] == "nodes" && m == http.MethodGet:
		if _, ok := s.pools[batch.Key(p[1])]; !ok {
			return 0, nil, batch.ErrPoolNotFound
		}
		nodes := s.nodes[batch.Key(p[1])]
		if len(p) == 3 {
			return list(r, nodes, func(n batch.ComputeNode) string { return n.State })
		}
		for _, n := range nodes {
			if batch.EqualFold(n.ID, p[3]) {
				return http.StatusOK, n, nil
			}
		}
		return 0, nil, batch.ErrNodeNotFound
	case len(p) == 1 && p[0] == "jobs" && m == http.MethodPost:
		return s.addJob(body)
	case len(p) == 1 && p[0] == "jobs" && m == http.MethodGet:
		return list(r, sortedValues(s.jobs), func(j batch.Job) string { return j.State })
	case len(p) >= 2 && p[0] == "jobs":
		return s.routeJob(r, p, body)
	}
	return 0, nil, errNotFound
}

func (s *Server) routeJob(r *http.Request, p []string, body []byte) (int, any, error) {
	m := r.Method
	job, ok := s.jobs[batch.Key(p[1])]
	if !ok {
		return 0, nil, batch.ErrJobNotFound
	}
	tasks := s.tasks[batch.Key(job.ID)]
	switch {
	case len(p) == 2 && m == http.MethodGet:
		return http.StatusOK, job, nil
	case len(p) == 2 && m == http.MethodDelete:
		delete(s.jobs, batch.Key(job.ID))
		delete(s.tasks, batch.Key(job.ID))
		return http.StatusAccepted, nil, nil
	case len(p) == 3 && p[2] == "terminate" && m == http.MethodPost:
		var t batch.JobTerminate
		if len(body) > 0 {
			if err := decode(body, &t); err != nil {
				return 0, nil, err
			}
		}
		job.State = batch.JobCompleted
		job.ExecutionInfo = &batch.JobExecutionInformation{PoolID: job.PoolInfo.PoolID, EndTime: batch.At(time.Now()),
			TerminateReason: cmp.Or(t.TerminateReason, "UserTerminate")}
		return http.StatusAccepted, nil, nil
	case len(p) == 3 && p[2] == "taskcounts" && m == http.MethodGet:
		return http.StatusOK, counts(tasks), nil
	case len(p) == 3 && p[2] == "tasks" && m == http.MethodPost:
		var t batch.Task
		if err := decode(body, &t); err != nil {
			return 0, nil, err
		}
		if err := s.addTask(job, &t); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, nil, nil
	case len(p) == 3 && p[2] == "tasks" && m == http.MethodGet:
		return list(r, sortedValues(tasks), func(t batch.Task) string { return t.State })
	case len(p) == 3 && p[2] == "addtaskcollection" && m == http.MethodPost:
		return s.addCollection(job, body)
	case len(p) >= 4 && p[2] == "tasks":
		t, ok := tasks[batch.Key(p[3])]
		if !ok {
			return 0, nil, batch.ErrTaskNotFound
		}
		return s.routeTask(m, job, t, p[4:])
	}
	return 0, nil, errNotFound
}

func (s *Server) routeTask(m string, job *batch.Job, t *batch.Task, rest []string) (int, any, error) {
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		return http.StatusOK, t, nil
	case len(rest) == 0 && m == http.MethodDelete:
		delete(s.tasks[batch.Key(job.ID)], batch.Key(t.ID))
		return http.StatusOK, nil, nil
	case len(rest) == 1 && rest[0] == "terminate" && m == http.MethodPost:
		if t.State == batch.TaskCompleted {
			return 0, nil, batch.Errorf(http.StatusConflict, "TaskCompleted", "The specified task is already in a completed state.")
		}
		t.State = batch.TaskCompleted
		t.ExecutionInfo = &batch.TaskExecutionInformation{Result: batch.ResultFailure,
			FailureInfo: &batch.TaskFailureInformation{Category: batch.CategoryUser, Code: "TaskEnded", Message: "The task was terminated."}}
		return http.StatusNoContent, nil, nil
	case len(rest) == 2 && rest[0] == "files" && m == http.MethodGet:
		b, ok := s.files[fileKey(job.ID, t.ID, rest[1])]
		if !ok {
			return 0, nil, batch.Errorf(http.StatusNotFound, "FileNotFound", "The specified file does not exist.")
		}
		return http.StatusOK, b, nil
	}
	return 0, nil, errNotFound
}

func (s *Server) addPool(body []byte) (int, any, error) {
	var p batch.Pool
	if err := decode(body, &p); err != nil {
		return 0, nil, err
	}
	if err := batch.ValidatePoolAdd(&p); err != nil {
		return 0, nil, err
	}
	if _, ok := s.pools[batch.Key(p.ID)]; ok {
		return 0, nil, batch.ErrPoolExists
	}
	now := batch.At(time.Now())
	p.State, p.AllocationState, p.CreationTime, p.LastModified = batch.PoolActive, batch.AllocSteady, now, now
	p.URL = s.URL + "/pools/" + url.PathEscape(p.ID)
	p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes = p.TargetDedicatedNodes, p.TargetLowPriorityNodes
	s.pools[batch.Key(p.ID)] = &p
	return http.StatusCreated, nil, nil
}

func (s *Server) resizePool(id string, body []byte) (int, any, error) {
	p, ok := s.pools[batch.Key(id)]
	if !ok {
		return 0, nil, batch.ErrPoolNotFound
	}
	var rs batch.PoolResize
	if err := decode(body, &rs); err != nil {
		return 0, nil, err
	}
	if err := batch.ValidateResize(&rs); err != nil {
		return 0, nil, err
	}
	if rs.TargetDedicatedNodes != nil {
		p.TargetDedicatedNodes = rs.TargetDedicatedNodes
	}
	if rs.TargetLowPriorityNodes != nil {
		p.TargetLowPriorityNodes = rs.TargetLowPriorityNodes
	}
	p.AllocationState = batch.AllocResizing
	return http.StatusAccepted, nil, nil
}

func (s *Server) addJob(body []byte) (int, any, error) {
	var j batch.Job
	if err := decode(body, &j); err != nil {
		return 0, nil, err
	}
	if err := batch.ValidateJobAdd(&j); err != nil {
		return 0, nil, err
	}
	if _, ok := s.jobs[batch.Key(j.ID)]; ok {
		return 0, nil, batch.ErrJobExists
	}
	now := batch.At(time.Now())
	j.State, j.CreationTime, j.LastModified = batch.JobActive, now, now
	j.URL = s.URL + "/jobs/" + url.PathEscape(j.ID)
	j.ExecutionInfo = &batch.JobExecutionInformation{StartTime: now, PoolID: j.PoolInfo.PoolID}
	s.jobs[batch.Key(j.ID)] = &j
	s.tasks[batch.Key(j.ID)] = map[string]*batch.Task{}
	return http.StatusCreated, nil, nil
}

func (s *Server) addTask(job *batch.Job, t *batch.Task) error {
	if job.State != batch.JobActive {
		return batch.Errorf(http.StatusConflict, "JobCompleted", "The specified job is already in a completed state.")
	}
	if err := batch.ValidateTaskAdd(t, job); err != nil {
		return err
	}
	tasks := s.tasks[batch.Key(job.ID)]
	if _, ok := tasks[batch.Key(t.ID)]; ok {
		return batch.ErrTaskExists
	}
	now := batch.At(time.Now())
	t.State, t.CreationTime, t.LastModified, t.StateTransitionTime = batch.TaskActive, now, now, now
	t.URL = job.URL + "/tasks/" + url.PathEscape(t.ID)
	t.ExecutionInfo = &batch.TaskExecutionInformation{}
	tasks[batch.Key(t.ID)] = t
	return nil
}

func (s *Server) addCollection(job *batch.Job, body []byte) (int, any, error) {
	if len(body) >= batch.MaxCollectionBytes {
		return 0, nil, batch.Errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large.")
	}
	var c batch.TaskAddCollection
	if err := decode(body, &c); err != nil {
		return 0, nil, err
	}
	if len(c.Value) > batch.MaxTasksPerCollection {
		return 0, nil, batch.Errorf(http.StatusBadRequest, "RequestBodyTooLarge",
			"The number of tasks in the collection exceeds %d.", batch.MaxTasksPerCollection)
	}
	results := make([]batch.TaskAddResult, 0, len(c.Value))
	for _, raw := range c.Value {
		var t batch.Task
		err := decode(raw, &t)
		if err == nil {
			err = s.addTask(job, &t)
		}
		if err != nil {
			e := batch.AsError(err)
			results = append(results, batch.TaskAddResult{Status: "clienterror", TaskID: t.ID, Error: &batch.WireError{
				Code: e.Code, Message: batch.WireMessage{Lang: "en-US", Value: e.Message}, Values: e.Values}})
			continue
		}
		results = append(results, batch.TaskAddResult{Status: "success", TaskID: t.ID, ETag: "0x1", Location: t.URL})
	}
	// Azure answers in any order: reverse, so that clients must match by id.
	slices.Reverse(results)
	return http.StatusOK, map[string]any{"value": results}, nil
}

func counts(tasks map[string]*batch.Task) batch.TaskCountsResult {
	var c batch.TaskCounts
	for _, t := range tasks {
		switch t.State {
		case batch.TaskActive:
			c.Active++
		case batch.TaskRunning, batch.TaskPreparing:
			c.Running++
		case batch.TaskCompleted:
			c.Completed++
			if t.ExecutionInfo != nil && t.ExecutionInfo.Result == batch.ResultFailure {
				c.Failed++
			} else {
				c.Succeeded++
			}
		}
	}
	return batch.TaskCountsResult{TaskCounts: c, TaskSlotCounts: c}
}

// list answers a page of items: maxresults per page (default 1000), the
// offset in $skiptoken, and an absolute odata.nextLink that carries the
// original options.
func list[T any](r *http.Request, items []T, state func(T) string) (int, any, error) {
	q := r.URL.Query()
	if f := q.Get("$filter"); f != "" {
		want, ok := parseStateFilter(f)
		if !ok {
			return 0, nil, batch.Errorf(http.StatusBadRequest, "InvalidQueryParameterValue",
				"Value for one of the query parameters specified in the request URI is invalid.").With("QueryParameterName", "$filter")
		}
		items = slices.DeleteFunc(slices.Clone(items), func(v T) bool { return !batch.EqualFold(state(v), want) })
	}
	size := 1000
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, batch.Errorf(http.StatusBadRequest, "OutOfRangeQueryParameterValue",
				"One of the query parameters specified in the request URI is outside the permissible range.").With("QueryParameterName", "maxresults")
		}
		size = n
	}
	start, _ := strconv.Atoi(q.Get("$skiptoken"))
	start = min(max(start, 0), len(items))
	end := min(start+size, len(items))
	out := map[string]any{"odata.metadata": "$metadata#list", "value": items[start:end]}
	if end < len(items) {
		q.Set("$skiptoken", strconv.Itoa(end))
		rawPath, _, _ := strings.Cut(r.RequestURI, "?")
		out["odata.nextLink"] = "http://" + r.Host + rawPath + "?" + q.Encode()
	}
	return http.StatusOK, out, nil
}

// parseStateFilter understands "state eq 'x'".
func parseStateFilter(f string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(f), "state eq '")
	if !ok || !strings.HasSuffix(rest, "'") {
		return "", false
	}
	return strings.TrimSuffix(rest, "'"), true
}

// sortedValues returns the values of m sorted by key, as copies.
func sortedValues[T any](m map[string]*T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, *m[k])
	}
	return out
}

// String describes the server, for test failure messages.
func (s *Server) String() string { return fmt.Sprintf("producertest.Server(%s)", s.URL) }
