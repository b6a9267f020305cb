package producer

import (
	"net/http"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// The operations both clients speak, as calls. REST paths and methods are
// those of the Azure Batch data-plane API; op names those of protocol.APIRequest.

func opAddPool(p *batch.Pool) call {
	return call{op: "pool.add", method: http.MethodPost, path: "/pools", body: p, model: true}
}

func opGetPool(id string) call {
	return call{op: "pool.get", method: http.MethodGet, path: pathOf("pools", id), ids: protocol.APIRequest{PoolID: id}}
}

func opListPools(o *ListOptions) call {
	return call{op: "pool.list", method: http.MethodGet, path: "/pools", query: o.query()}
}

func opDeletePool(id string) call {
	return call{op: "pool.delete", method: http.MethodDelete, path: pathOf("pools", id), ids: protocol.APIRequest{PoolID: id}}
}

func opResizePool(id string, r *batch.PoolResize) call {
	return call{op: "pool.resize", method: http.MethodPost, path: pathOf("pools", id, "resize"),
		ids: protocol.APIRequest{PoolID: id}, body: r, model: true}
}

func opListNodes(pool string, o *ListOptions) call {
	return call{op: "node.list", method: http.MethodGet, path: pathOf("pools", pool, "nodes"),
		ids: protocol.APIRequest{PoolID: pool}, query: o.query()}
}

func opGetNode(pool, node string) call {
	return call{op: "node.get", method: http.MethodGet, path: pathOf("pools", pool, "nodes", node),
		ids: protocol.APIRequest{PoolID: pool, NodeID: node}}
}

func opPreemptNode(pool, node string) call {
	return call{op: "node.preempt", method: http.MethodPost, path: pathOf("pools", pool, "nodes", node, "natch-preempt"),
		ids: protocol.APIRequest{PoolID: pool, NodeID: node}}
}

func opAddJob(j *batch.Job) call {
	return call{op: "job.add", method: http.MethodPost, path: "/jobs", body: j, model: true}
}

func opGetJob(id string) call {
	return call{op: "job.get", method: http.MethodGet, path: pathOf("jobs", id), ids: protocol.APIRequest{JobID: id}}
}

func opListJobs(o *ListOptions) call {
	return call{op: "job.list", method: http.MethodGet, path: "/jobs", query: o.query()}
}

func opDeleteJob(id string) call {
	return call{op: "job.delete", method: http.MethodDelete, path: pathOf("jobs", id), ids: protocol.APIRequest{JobID: id}}
}

// opTerminateJob has a body model; like the SDK it sends no body at all
// when there is no reason.
func opTerminateJob(id, reason string) call {
	c := call{op: "job.terminate", method: http.MethodPost, path: pathOf("jobs", id, "terminate"),
		ids: protocol.APIRequest{JobID: id}, model: true}
	if reason != "" {
		c.body = batch.JobTerminate{TerminateReason: reason}
	}
	return c
}

func opTaskCounts(job string) call {
	return call{op: "job.taskcounts", method: http.MethodGet, path: pathOf("jobs", job, "taskcounts"),
		ids: protocol.APIRequest{JobID: job}}
}

func opAddTask(job string, t *batch.Task) call {
	return call{op: "task.add", method: http.MethodPost, path: pathOf("jobs", job, "tasks"),
		ids: protocol.APIRequest{JobID: job}, body: t, model: true}
}

func opAddTaskCollection(job string, body []byte) call {
	return call{op: "task.addcollection", method: http.MethodPost, path: pathOf("jobs", job, "addtaskcollection"),
		ids: protocol.APIRequest{JobID: job}, body: rawBody(body), model: true}
}

func opGetTask(job, task string) call {
	return call{op: "task.get", method: http.MethodGet, path: pathOf("jobs", job, "tasks", task),
		ids: protocol.APIRequest{JobID: job, TaskID: task}}
}

func opListTasks(job string, o *ListOptions) call {
	return call{op: "task.list", method: http.MethodGet, path: pathOf("jobs", job, "tasks"),
		ids: protocol.APIRequest{JobID: job}, query: o.query()}
}

func opDeleteTask(job, task string) call {
	return call{op: "task.delete", method: http.MethodDelete, path: pathOf("jobs", job, "tasks", task),
		ids: protocol.APIRequest{JobID: job, TaskID: task}}
}

// opTerminateTask is a POST without a body model (Content-Type without odata).
func opTerminateTask(job, task string) call {
	return call{op: "task.terminate", method: http.MethodPost, path: pathOf("jobs", job, "tasks", task, "terminate"),
		ids: protocol.APIRequest{JobID: job, TaskID: task}}
}

// opSubmitErrors is natch's own: GET /jobs/{job}/submiterrors.
func opSubmitErrors(job string) call {
	return call{op: "task.submiterrors", method: http.MethodGet, path: pathOf("jobs", job, "submiterrors"),
		ids: protocol.APIRequest{JobID: job}}
}

// rawBody is a request body that is already JSON.
type rawBody []byte

// encodeBody returns the JSON of a call's body, or nil for none.
func encodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case rawBody:
		return b, nil
	default:
		return jsonMarshal(b)
	}
}

func opPatchJob(id string, p *batch.JobPatch, replace bool) call {
	c := call{op: "job.patch", method: http.MethodPatch, path: pathOf("jobs", id),
		ids: protocol.APIRequest{JobID: id}, body: p, model: true}
	if replace {
		c.op, c.method = "job.update", http.MethodPut
	}
	return c
}

func opListScheduleJobs(schedule string, o *ListOptions) call {
	return call{op: "job.listfromjobschedule", method: http.MethodGet, path: pathOf("jobschedules", schedule, "jobs"),
		ids: protocol.APIRequest{JobScheduleID: schedule}, query: o.query()}
}

func opAddJobSchedule(js *batch.JobSchedule) call {
	return call{op: "jobschedule.add", method: http.MethodPost, path: "/jobschedules", body: js, model: true}
}

func opGetJobSchedule(id string) call {
	return call{op: "jobschedule.get", method: http.MethodGet, path: pathOf("jobschedules", id),
		ids: protocol.APIRequest{JobScheduleID: id}}
}

func opListJobSchedules(o *ListOptions) call {
	return call{op: "jobschedule.list", method: http.MethodGet, path: "/jobschedules", query: o.query()}
}

func opPatchJobSchedule(id string, p *batch.JobSchedulePatch, replace bool) call {
	c := call{op: "jobschedule.patch", method: http.MethodPatch, path: pathOf("jobschedules", id),
		ids: protocol.APIRequest{JobScheduleID: id}, body: p, model: true}
	if replace {
		c.op, c.method = "jobschedule.update", http.MethodPut
	}
	return c
}

func opDeleteJobSchedule(id string) call {
	return call{op: "jobschedule.delete", method: http.MethodDelete, path: pathOf("jobschedules", id),
		ids: protocol.APIRequest{JobScheduleID: id}}
}

// opJobScheduleAction is disable, enable or terminate: POSTs without a body model.
func opJobScheduleAction(id, action string) call {
	return call{op: "jobschedule." + action, method: http.MethodPost, path: pathOf("jobschedules", id, action),
		ids: protocol.APIRequest{JobScheduleID: id}}
}
