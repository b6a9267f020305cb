package protocol

import (
	"encoding/json"
	"net/url"
)

// APIRequest is the body of a NATS API request on
// topology.APISubject(account, op). Path parameters of the REST route go in
// the named fields, the REST body in Body, and OData options in Query.
//
// Operation names follow the SDK's: "pool.add", "pool.get", "pool.list",
// "pool.delete", "pool.resize", "node.list", "node.get", "node.preempt" (natch only), "job.add", "job.get",
// "job.list", "job.delete", "job.terminate", "job.taskcounts", "job.patch",
// "job.update", "job.listfromjobschedule", "task.add", "task.addcollection",
// "task.get", "task.list", "task.delete", "task.terminate",
// "task.submiterrors", "job.getalllifetimestatistics", the pool and node
// operations "pool.stopresize", "pool.removenodes", "pool.listusagemetrics",
// "pool.getalllifetimestatistics", "node.disablescheduling",
// "node.enablescheduling", "node.reboot", "node.reimage",
// "node.getremoteloginsettings", "node.uploadbatchservicelogs",
// "node.adduser", "node.updateuser", "node.deleteuser",
// "account.listsupportedimages", the file operations
// "file.{get,getproperties,list,delete}from{task,computenode}", the job
// schedule operations "jobschedule.add",
// "jobschedule.list", "jobschedule.get", "jobschedule.exists",
// "jobschedule.patch", "jobschedule.update", "jobschedule.delete",
// "jobschedule.disable", "jobschedule.enable", "jobschedule.terminate", and
// the application operations "application.list", "application.get",
// "application.listversions", "application.patch", "application.delete",
// "application.deleteversion", "application.publish" (docs/nats-api.md has
// the full list).
type APIRequest struct {
	PoolID string `json:"poolId,omitempty"`
	NodeID string `json:"nodeId,omitempty"`
	JobID  string `json:"jobId,omitempty"`
	TaskID string `json:"taskId,omitempty"`
	// ApplicationID and Version address an application and one of its
	// packages (application.* operations).
	ApplicationID string `json:"applicationId,omitempty"`
	Version       string `json:"version,omitempty"`
	// JobScheduleID addresses a job schedule (jobschedule.* operations).
	JobScheduleID string          `json:"jobScheduleId,omitempty"`
	Query         url.Values      `json:"query,omitempty"`
	Body          json.RawMessage `json:"body,omitempty"`
}

// APIResponse is the reply to a NATS API request: the HTTP status the REST
// API would give and its JSON body (an entity, a list {"value":[…]}, or a
// BatchError when Status ≥ 400).
type APIResponse struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
}
