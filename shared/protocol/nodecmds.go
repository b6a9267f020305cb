package protocol

import "time"

// Node lifecycle commands, served by the worker over NATS request/reply on
// topology.NodeSubject(account, node, command) like the file commands. A
// failed command's reply carries ErrorHeader (an Azure error code) and the
// message as its body.
const (
	// CmdScheduling: body SchedulingRequest → empty reply. Disabling stops
	// the node pulling tasks and handles its running tasks per Option;
	// enabling resumes pulling. Both directions are idempotent.
	CmdScheduling = "scheduling"
	// CmdReboot: body RebootRequest → empty reply, sent once the node has
	// paused pulling; the restart then goes on in the background.
	// ErrorHeader "NodeBeingRebooted" / "NodeBeingReimaged" while one is
	// under way.
	CmdReboot = "reboot"
	// CmdUploadLogs: body UploadLogsRequest → reply JSON UploadLogsResult.
	CmdUploadLogs = "uploadlogs"
)

// Options of what a node does with its running tasks when its scheduling is
// disabled, it reboots or reimages, or it is removed (Azure's
// nodeDisableSchedulingOption, nodeRebootOption, nodeReimageOption and
// nodeDeallocationOption). OptionRetainedData is accepted where Azure
// accepts it and acts as OptionTaskCompletion on natch, which keeps no
// per-node retained data apart from task directories.
const (
	OptionRequeue        = "requeue"
	OptionTerminate      = "terminate"
	OptionTaskCompletion = "taskcompletion"
	OptionRetainedData   = "retaineddata"
)

// SchedulingRequest turns a node's task scheduling on or off.
type SchedulingRequest struct {
	Enable bool `json:"enable"`
	// Option is what a disable does with the running tasks: OptionRequeue
	// (the default), OptionTerminate or OptionTaskCompletion.
	Option string `json:"option,omitempty"`
}

// RebootRequest restarts a node's agent: it stops pulling, handles its
// running tasks per Option, wipes its directories when Reimage is set, and
// then takes tasks again with a new lastBootTime.
type RebootRequest struct {
	Option  string `json:"option,omitempty"`
	Reimage bool   `json:"reimage,omitempty"`
}

// UploadLogsRequest asks a node to upload its agent log files that were
// written in [StartTime, EndTime] (EndTime zero: up to now) to the container
// ContainerURL (anything shared/blob.Open accepts).
type UploadLogsRequest struct {
	ContainerURL string    `json:"containerUrl"`
	StartTime    time.Time `json:"startTime"`
	EndTime      time.Time `json:"endTime,omitzero"`
}

// UploadLogsResult is the reply to CmdUploadLogs, Azure's
// UploadBatchServiceLogsResult.
type UploadLogsResult struct {
	VirtualDirectoryName  string `json:"virtualDirectoryName"`
	NumberOfFilesUploaded int    `json:"numberOfFilesUploaded"`
}

// DropQueued tells every node of a pool that a job's queued tasks, or one
// of them, must not start: the job was terminated, deleted or disabled, or
// the task was terminated or deleted, while it waited on a node for a slot
// (prefetched: taken from the queue, so the dispatcher's purge of the
// queue missed it, and not started, so the dispatcher does not know the
// node). It is published, not requested, on topology.PoolDropSubject.
// A node removes the matching tasks from its queue without running them
// and acknowledges their messages; it does the same for a matching task
// it takes within DropQueuedTTL, which covers a delivery on its way when
// the command came.
type DropQueued struct {
	JobID string `json:"jobId"`
	// TaskID is the task to drop; empty drops every queued task of the job.
	TaskID string `json:"taskId,omitempty"`
	// UpToSeq is the pool queue's (the tasks stream's) last sequence once the
	// dispatcher purged it: only messages at or below it are dropped, so a
	// task queued again later (a re-enabled job) runs.
	UpToSeq uint64 `json:"upToSeq"`
}

// DropQueuedTTL is how long a node applies a DropQueued to the tasks it
// takes after the command came.
const DropQueuedTTL = 30 * time.Second
