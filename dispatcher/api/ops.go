package api

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/natch-io/natch/dispatcher/service"
	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
)

func (s *Server) operations() map[string]opFunc {
	ops := map[string]opFunc{
		"pool.add":                   s.poolAdd,
		"pool.list":                  s.poolList,
		"pool.get":                   s.poolGet,
		"pool.exists":                s.poolExists,
		"pool.delete":                s.poolDelete,
		"pool.resize":                s.poolResize,
		"pool.patch":                 s.poolPatch,
		"pool.updateproperties":      s.poolUpdateProperties,
		"pool.enableautoscale":       s.poolEnableAutoScale,
		"pool.disableautoscale":      s.poolDisableAutoScale,
		"pool.evaluateautoscale":     s.poolEvaluateAutoScale,
		"node.list":                  s.nodeList,
		"node.get":                   s.nodeGet,
		"node.preempt":               s.nodePreempt,
		"account.listpoolnodecounts": s.nodeCounts,
		"job.add":                    s.jobAdd,
		"job.list":                   s.jobList,
		"job.get":                    s.jobGet,
		"job.delete":                 s.jobDelete,
		"job.terminate":              s.jobTerminate,
		"job.disable":                s.jobDisable,
		"job.enable":                 s.jobEnable,
		"job.taskcounts":             s.jobTaskCounts,
		"job.patch":                  s.jobPatch,
		"job.update":                 s.jobUpdate,
		"job.listfromjobschedule":    s.jobListFromSchedule,
		"jobschedule.add":            s.scheduleAdd,
		"jobschedule.list":           s.scheduleList,
		"jobschedule.get":            s.scheduleGet,
		"jobschedule.exists":         s.scheduleExists,
		"jobschedule.patch":          s.schedulePatch,
		"jobschedule.update":         s.scheduleUpdate,
		"jobschedule.delete":         s.scheduleDelete,
		"jobschedule.disable":        s.scheduleDisable,
		"jobschedule.enable":         s.scheduleEnable,
		"jobschedule.terminate":      s.scheduleTerminate,
		"task.add":                   s.taskAdd,
		"task.addcollection":         s.taskAddCollection,
		"task.list":                  s.taskList,
		"task.get":                   s.taskGet,
		"task.delete":                s.taskDelete,
		"task.terminate":             s.taskTerminate,
		"task.update":                s.taskUpdate,
		"task.reactivate":            s.taskReactivate,
		"task.submiterrors":          s.taskSubmitErrors,
		"task.listsubtasks":          s.taskListSubtasks, // multiinstance.go
		"file.listfromtask":          s.fileList,
		"file.getfromtask":           s.fileGet,
		"file.getpropertiesfromtask": s.fileProperties,
		"file.deletefromtask":        s.fileDelete,
	}
	maps.Copy(ops, s.applicationOps())
	maps.Copy(ops, s.nodeOps())
	maps.Copy(ops, s.prepOps())
	return ops
}

func empty(status int) *response { return &response{status: status} }

// --- pools

func (s *Server) poolURL(r *request, id string) string { return r.base + "/pools/" + id }

func (s *Server) renderPool(r *request, p *batch.Pool) *batch.Pool {
	c := *p
	c.URL = s.poolURL(r, p.ID)
	return &c
}

func (s *Server) poolAdd(ctx context.Context, r *request) (*response, error) {
	var p batch.Pool
	if err := batch.Decode(r.body, &p); err != nil {
		return nil, err
	}
	created, err := s.svc.AddPool(ctx, r.account, &p)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, etag: created.ETag, lastModified: created.LastModified,
		location: s.poolURL(r, created.ID)}, nil
}

func (s *Server) poolGet(ctx context.Context, r *request) (*response, error) {
	stats, err := expandStats(r)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.GetPool(ctx, r.account, r.poolID)
	if err != nil {
		return nil, err
	}
	out := s.renderPool(r, p)
	if stats {
		if out.Stats, err = s.poolStats(ctx, r, p); err != nil {
			return nil, err
		}
	}
	return s.selected(r, "pools", out, p.ETag, p.LastModified)
}

// poolStats is a pool's stats for $expand=stats.
func (s *Server) poolStats(ctx context.Context, r *request, p *batch.Pool) (*batch.PoolStatistics, error) {
	st, err := s.svc.PoolStats(ctx, r.account, p)
	if err == nil {
		st.URL = s.poolURL(r, p.ID) + "/stats"
	}
	return st, err
}

// expandStats reads $expand: natch expands "stats" (jobs and pools), as
// Azure does; anything else is refused.
func expandStats(r *request) (bool, error) {
	v := r.query.Get("$expand")
	if v == "" {
		return false, nil
	}
	for _, e := range strings.Split(v, ",") {
		if !strings.EqualFold(strings.TrimSpace(e), "stats") {
			return false, (&batch.Error{Status: 400, Code: "InvalidQueryParameterValue",
				Message: "The value for one of the query parameters specified in the request URI is invalid: $expand supports stats."}).
				With("QueryParameterName", "$expand").With("QueryParameterValue", v)
		}
	}
	return true, nil
}

func (s *Server) poolExists(ctx context.Context, r *request) (*response, error) {
	p, err := s.svc.GetPool(ctx, r.account, r.poolID)
	if err != nil {
		return nil, err
	}
	return &response{status: 200, etag: p.ETag, lastModified: p.LastModified}, nil
}

func (s *Server) poolList(ctx context.Context, r *request) (*response, error) {
	pools, err := s.svc.ListPools(ctx, r.account)
	if err != nil {
		return nil, err
	}
	stats, err := expandStats(r)
	if err != nil {
		return nil, err
	}
	items := make([]listed, 0, len(pools))
	for _, p := range pools {
		out := s.renderPool(r, p)
		if stats {
			if out.Stats, err = s.poolStats(ctx, r, p); err != nil {
				return nil, err
			}
		}
		b, err := entity(r.base, "pools", out)
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: lower(p.ID), json: b})
	}
	return s.page(r, "pools", poolFilterable, sliceSource(items))
}

func (s *Server) poolDelete(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeletePool(ctx, r.account, r.poolID, r.cond); err != nil {
		return nil, err
	}
	return empty(http.StatusAccepted), nil
}

func (s *Server) poolResize(ctx context.Context, r *request) (*response, error) {
	var body batch.PoolResize
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.ResizePool(ctx, r.account, r.poolID, &body, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.poolURL(r, r.poolID)}, nil
}

func (s *Server) poolEnableAutoScale(ctx context.Context, r *request) (*response, error) {
	var body batch.PoolEnableAutoScale
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	p, err := s.svc.EnableAutoScale(ctx, r.account, r.poolID, &body, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: p.ETag, lastModified: p.LastModified, location: s.poolURL(r, p.ID)}, nil
}

func (s *Server) poolDisableAutoScale(ctx context.Context, r *request) (*response, error) {
	p, err := s.svc.DisableAutoScale(ctx, r.account, r.poolID, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: p.ETag, lastModified: p.LastModified, location: s.poolURL(r, p.ID)}, nil
}

func (s *Server) poolEvaluateAutoScale(ctx context.Context, r *request) (*response, error) {
	var body batch.PoolEvaluateAutoScale
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	run, err := s.svc.EvaluateAutoScale(ctx, r.account, r.poolID, &body)
	if err != nil {
		return nil, err
	}
	b, err := withMetadata(r.base+"/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun", run)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: b}, nil
}

func (s *Server) poolPatch(ctx context.Context, r *request) (*response, error) {
	var body batch.PoolPatch
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	p, err := s.svc.PatchPool(ctx, r.account, r.poolID, &body, false, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: p.ETag, lastModified: p.LastModified, location: s.poolURL(r, p.ID)}, nil
}

func (s *Server) poolUpdateProperties(ctx context.Context, r *request) (*response, error) {
	var body batch.PoolPatch
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	p, err := s.svc.PatchPool(ctx, r.account, r.poolID, &body, true, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, etag: p.ETag, lastModified: p.LastModified, location: s.poolURL(r, p.ID)}, nil
}

// --- nodes

func (s *Server) renderNode(r *request, n *batch.ComputeNode) *batch.ComputeNode {
	c := *n
	c.URL = s.poolURL(r, r.poolID) + "/nodes/" + n.ID
	return &c
}

func (s *Server) nodeList(ctx context.Context, r *request) (*response, error) {
	nodes, err := s.svc.ListNodes(ctx, r.account, r.poolID)
	if err != nil {
		return nil, err
	}
	items := make([]listed, 0, len(nodes))
	for _, n := range nodes {
		b, err := json.Marshal(s.renderNode(r, n))
		if err != nil {
			return nil, err
		}
		items = append(items, listed{token: lower(n.ID), json: b})
	}
	return s.page(r, "nodes", nodeFilterable, sliceSource(items))
}

func (s *Server) nodeGet(ctx context.Context, r *request) (*response, error) {
	n, err := s.svc.GetNode(ctx, r.account, r.poolID, r.nodeID)
	if err != nil {
		return nil, err
	}
	return s.selected(r, "nodes", s.renderNode(r, n), "", nil)
}

// poolNodeCounts is one entry of listPoolNodeCounts.
type poolNodeCounts struct {
	PoolID      string         `json:"poolId"`
	Dedicated   map[string]int `json:"dedicated"`
	LowPriority map[string]int `json:"lowPriority"`
}

func (s *Server) nodeCounts(ctx context.Context, r *request) (*response, error) {
	pools, err := s.svc.ListPools(ctx, r.account)
	if err != nil {
		return nil, err
	}
	states := map[string]string{"creating": "creating", "idle": "idle", "offline": "offline", "preempted": "preempted",
		"rebooting": "rebooting", "reimaging": "reimaging", "running": "running", "starting": "starting",
		"starttaskfailed": "startTaskFailed", "leavingpool": "leavingPool", "unknown": "unknown", "unusable": "unusable",
		"waitingforstarttask": "waitingForStartTask"}
	zero := func() map[string]int {
		m := map[string]int{"total": 0}
		for _, v := range states {
			m[v] = 0
		}
		return m
	}
	items := make([]listed, 0, len(pools))
	for _, p := range pools {
		nodes, err := s.svc.ListNodes(ctx, r.account, p.ID)
		if err != nil {
			continue
		}
		c := poolNodeCounts{PoolID: p.ID, Dedicated: zero(), LowPriority: zero()}
		for _, n := range nodes {
			m := c.Dedicated
			if !n.IsDedicated {
				m = c.LowPriority
			}
			if k, ok := states[n.State]; ok {
				m[k]++
			}
			m["total"]++
		}
		b, _ := json.Marshal(c)
		items = append(items, listed{token: lower(p.ID), json: b})
	}
	return s.page(r, "poolnodecounts", []string{"poolId"}, sliceSource(items))
}

// --- jobs

func (s *Server) jobURL(r *request, id string) string { return r.base + "/jobs/" + id }

func (s *Server) renderJob(r *request, j *batch.Job) *batch.Job {
	c := *j
	c.URL = s.jobURL(r, j.ID)
	return &c
}

func (s *Server) jobAdd(ctx context.Context, r *request) (*response, error) {
	var j batch.Job
	if err := batch.Decode(r.body, &j); err != nil {
		return nil, err
	}
	created, err := s.svc.AddJob(ctx, r.account, &j)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, etag: created.ETag, lastModified: created.LastModified,
		location: s.jobURL(r, created.ID)}, nil
}

func (s *Server) jobGet(ctx context.Context, r *request) (*response, error) {
	stats, err := expandStats(r)
	if err != nil {
		return nil, err
	}
	j, err := s.svc.GetJob(ctx, r.account, r.jobID)
	if err != nil {
		return nil, err
	}
	out := s.renderJob(r, &j.Job)
	if stats {
		if out.Stats, err = s.jobStats(ctx, r, &j.Job); err != nil {
			return nil, err
		}
	}
	return s.selected(r, "jobs", out, j.ETag, j.LastModified)
}

// jobStats is a job's stats for $expand=stats.
func (s *Server) jobStats(ctx context.Context, r *request, j *batch.Job) (*batch.JobStatistics, error) {
	st, err := s.svc.JobStats(ctx, r.account, j)
	if err == nil {
		st.URL = s.jobURL(r, j.ID) + "/stats"
	}
	return st, err
}

func (s *Server) jobList(ctx context.Context, r *request) (*response, error) {
	return s.page(r, "jobs", jobFilterable, func(after string, yield func(listed) bool) error {
		stats, err := expandStats(r)
		if err != nil {
			return err
		}
		return s.svc.ScanJobs(ctx, r.account, revision(after), func(j *batch.Job, rev uint64) (bool, error) {
			out := s.renderJob(r, j)
			if stats {
				if out.Stats, err = s.jobStats(ctx, r, j); err != nil {
					return false, err
				}
			}
			b, err := entity(r.base, "jobs", out)
			if err != nil {
				return false, err
			}
			return yield(listed{token: strconv.FormatUint(rev, 10), json: b, id: lower(j.ID)}), nil
		})
	})
}

func (s *Server) jobDelete(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeleteJob(ctx, r.account, r.jobID, r.cond); err != nil {
		return nil, err
	}
	return empty(http.StatusAccepted), nil
}

func (s *Server) jobTerminate(ctx context.Context, r *request) (*response, error) {
	var body batch.JobTerminate
	if len(r.body) > 0 {
		if err := batch.Decode(r.body, &body); err != nil {
			return nil, err
		}
	}
	if err := s.svc.TerminateJob(ctx, r.account, r.jobID, body.TerminateReason, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.jobURL(r, r.jobID)}, nil
}

func (s *Server) jobDisable(ctx context.Context, r *request) (*response, error) {
	var body batch.JobDisable
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	if err := s.svc.DisableJob(ctx, r.account, r.jobID, &body, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.jobURL(r, r.jobID)}, nil
}

func (s *Server) jobEnable(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.EnableJob(ctx, r.account, r.jobID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted, location: s.jobURL(r, r.jobID)}, nil
}

func (s *Server) jobTaskCounts(ctx context.Context, r *request) (*response, error) {
	c, err := s.svc.TaskCounts(ctx, r.account, r.jobID)
	if err != nil {
		return nil, err
	}
	b, err := withMetadata(r.base+"/$metadata#taskcounts/@Element", c)
	if err != nil {
		return nil, err
	}
	return &response{status: 200, body: b}, nil
}

// --- tasks

func (s *Server) taskURL(r *request, job, task string) string {
	return s.jobURL(r, job) + "/tasks/" + task
}

func (s *Server) renderTask(r *request, t *batch.Task) *batch.Task {
	c := *t
	c.URL = s.taskURL(r, r.jobID, t.ID)
	if t.NodeInfo != nil {
		ni := *t.NodeInfo
		ni.NodeURL = r.base + "/pools/" + ni.PoolID + "/nodes/" + ni.NodeID
		ni.TaskRootDirectoryURL = c.URL + "/files"
		c.NodeInfo = &ni
	}
	return &c
}

func (s *Server) taskAdd(ctx context.Context, r *request) (*response, error) {
	var t batch.Task
	if err := batch.Decode(r.body, &t); err != nil {
		return nil, err
	}
	created, err := s.svc.AddTask(ctx, r.account, r.jobID, &t)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, etag: created.ETag, lastModified: created.LastModified,
		location: s.taskURL(r, r.jobID, created.ID)}, nil
}

func (s *Server) taskAddCollection(ctx context.Context, r *request) (*response, error) {
	if len(r.body) >= batch.MaxCollectionBytes {
		return nil, batch.Errorf(413, "RequestBodyTooLarge", "The request body is too large: a task collection must be smaller than 1 MB.")
	}
	var coll batch.TaskAddCollection
	if err := batch.Decode(r.body, &coll); err != nil {
		return nil, err
	}
	if coll.Value == nil {
		return nil, batch.MissingProperty("value")
	}
	if len(coll.Value) > batch.MaxTasksPerCollection {
		return nil, (&batch.Error{Status: 413, Code: "RequestBodyTooLarge",
			Message: "The number of tasks in the collection exceeds the limit of 100."}).With("PropertyName", "value")
	}
	tasks := make([]*batch.Task, len(coll.Value))
	results := make([]batch.TaskAddResult, len(coll.Value))
	var ok []*batch.Task
	var idx []int
	for i, raw := range coll.Value {
		var t batch.Task
		if err := batch.Decode(raw, &t); err != nil {
			var probe struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &probe)
			results[i] = service.AddResultError(probe.ID, err)
			continue
		}
		tasks[i] = &t
		ok = append(ok, &t)
		idx = append(idx, i)
	}
	res, err := s.svc.AddTasks(ctx, r.account, r.jobID, ok)
	if err != nil {
		return nil, err
	}
	for n, i := range idx {
		results[i] = res[n]
		if res[n].Status == service.AddSuccess {
			results[i].Location = s.taskURL(r, r.jobID, res[n].TaskID)
		}
	}
	b, err := withMetadata(r.base+"/$metadata#taskaddresult", struct {
		Value []batch.TaskAddResult `json:"value"`
	}{results})
	if err != nil {
		return nil, err
	}
	return &response{status: 200, body: b}, nil
}

func (s *Server) taskGet(ctx context.Context, r *request) (*response, error) {
	t, err := s.svc.GetTask(ctx, r.account, r.jobID, r.taskID)
	if err != nil {
		return nil, err
	}
	out := s.renderTask(r, &t.Task)
	out.WaitReason = s.svc.Waits(ctx, r.account, r.jobID).Reason(t)
	return s.selected(r, "tasks", out, t.ETag, t.LastModified)
}

func (s *Server) taskList(ctx context.Context, r *request) (*response, error) {
	return s.page(r, "tasks", taskFilterable, func(after string, yield func(listed) bool) error {
		waits := s.svc.Waits(ctx, r.account, r.jobID)
		return s.svc.ScanTasks(ctx, r.account, r.jobID, revision(after), func(t *state.TaskRecord, rev uint64) (bool, error) {
			out := s.renderTask(r, &t.Task)
			out.WaitReason = waits.Reason(t)
			b, err := entity(r.base, "tasks", out)
			if err != nil {
				return false, err
			}
			return yield(listed{token: strconv.FormatUint(rev, 10), json: b, id: lower(t.ID)}), nil
		})
	})
}

// revision parses a $skiptoken of a KV-backed list (the last revision
// returned); anything else starts from the beginning.
func revision(token string) uint64 {
	n, _ := strconv.ParseUint(token, 10, 64)
	return n
}

func (s *Server) taskDelete(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.DeleteTask(ctx, r.account, r.jobID, r.taskID, r.cond); err != nil {
		return nil, err
	}
	return empty(http.StatusOK), nil
}

func (s *Server) taskTerminate(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.TerminateTask(ctx, r.account, r.jobID, r.taskID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, location: s.taskURL(r, r.jobID, r.taskID)}, nil
}

func (s *Server) taskUpdate(ctx context.Context, r *request) (*response, error) {
	var body batch.TaskUpdate
	if err := batch.Decode(r.body, &body); err != nil {
		return nil, err
	}
	t, err := s.svc.UpdateTask(ctx, r.account, r.jobID, r.taskID, &body, r.cond)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, etag: t.ETag, lastModified: t.LastModified, location: s.taskURL(r, r.jobID, r.taskID)}, nil
}

func (s *Server) taskReactivate(ctx context.Context, r *request) (*response, error) {
	if err := s.svc.ReactivateTask(ctx, r.account, r.jobID, r.taskID, r.cond); err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, location: s.taskURL(r, r.jobID, r.taskID)}, nil
}

func (s *Server) taskSubmitErrors(ctx context.Context, r *request) (*response, error) {
	if _, err := s.svc.GetJob(ctx, r.account, r.jobID); err != nil {
		return nil, err
	}
	errs, err := s.svc.SubmitErrors(ctx, r.account, r.jobID)
	if err != nil {
		return nil, err
	}
	if errs == nil {
		errs = []state.SubmitError{}
	}
	b, err := json.Marshal(struct {
		Value []state.SubmitError `json:"value"`
	}{errs})
	if err != nil {
		return nil, err
	}
	return &response{status: 200, body: b}, nil
}

// selected renders a single entity, honouring $select.
func (s *Server) selected(r *request, set string, v any, etag string, lm *batch.Time) (*response, error) {
	b, err := entity(r.base, set, v)
	if err != nil {
		return nil, err
	}
	if sel := r.query.Get("$select"); sel != "" {
		if b, err = selectJSON(b, sel); err != nil {
			return nil, err
		}
	}
	return &response{status: 200, body: b, etag: etag, lastModified: lm}, nil
}
