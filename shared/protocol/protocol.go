// Package protocol holds the messages natch's components exchange over
// JetStream: the ready-task message a worker pulls from its pool's consumer,
// the task events a worker publishes back, the node record a worker keeps in
// the nodes bucket, and the commands the dispatcher sends to a node.
//
// Every event carries (task, attempt, delivery, node) so that the dispatcher
// can apply it twice and change nothing the second time.
package protocol

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/natch-io/natch/shared/batch"
)

// TaskMessage is a ready task, published to topology.TaskSubject. It carries
// everything a worker needs to run the task, so the worker reads no state.
type TaskMessage struct {
	Account string `json:"account"`
	PoolID  string `json:"poolId"`
	JobID   string `json:"jobId"`
	// Attempt is 0 for the first run and grows by one for each retry after a
	// non-zero exit. Requeues (redeliveries) keep the attempt.
	Attempt int `json:"attempt"`
	// Task is what a node needs of the task as added: id, command line,
	// files, environment, constraints, slots and multi-instance settings
	// (no state, timestamps or dependencies).
	Task batch.Task `json:"task"`
	// JobEnvironment is the job's commonEnvironmentSettings.
	JobEnvironment []batch.NameValue `json:"jobEnvironment,omitempty"`
	// ServiceEnvironment are variables the service sets for this attempt
	// (AZ_BATCH_AUTHENTICATION_TOKEN); they override the task's own.
	ServiceEnvironment []batch.NameValue `json:"serviceEnvironment,omitempty"`
	// AppPackages are the task's applicationPackageReferences, resolved to
	// versions when the task was added, so the worker looks nothing up.
	AppPackages []AppPackage `json:"appPackages,omitempty"`
	// JobPreparation is the job's preparation task: the worker runs it
	// before the job's first task on the node.
	JobPreparation *batch.JobPreparationTask `json:"jobPreparation,omitempty"`
	// Instance is the instance of a multi-instance task this message
	// runs: 0 for the primary (and every other task), 1..n-1 for the
	// subtasks, which the primary's worker queues (multiinstance.go).
	Instance int `json:"instance,omitempty"`
}

// MsgID is the Nats-Msg-Id of a ready-task message: publishing the same
// attempt twice within the stream's duplicate window stores it once.
func (m *TaskMessage) MsgID() string {
	return m.Account + "/" + batch.Key(m.JobID) + "/" + batch.Key(m.Task.ID) + "/" + strconv.Itoa(m.Attempt)
}

// Event types.
const (
	EventRunning   = "running"   // the process started
	EventCompleted = "completed" // the attempt ended (any exit code, or a failure before start)
	EventRequeued  = "requeued"  // the worker gave the task back (shutdown): not the task's fault
	// EventPreparing: the task waits on its node for the job preparation task.
	EventPreparing = "preparing"
)

// TaskEvent is a worker's report on one attempt of a task, published to
// topology.EventSubject.
type TaskEvent struct {
	Type    string `json:"type"`
	Account string `json:"account"`
	JobID   string `json:"jobId"`
	TaskID  string `json:"taskId"`
	PoolID  string `json:"poolId"`
	NodeID  string `json:"nodeId"`
	Attempt int    `json:"attempt"`
	// Delivery is the JetStream delivery count of the task message: above 1
	// the task was requeued (a node died or gave it back) that many times less one.
	Delivery    int                           `json:"delivery"`
	StartTime   time.Time                     `json:"startTime,omitzero"`
	EndTime     time.Time                     `json:"endTime,omitzero"`
	ExitCode    *int                          `json:"exitCode,omitempty"`
	FailureInfo *batch.TaskFailureInformation `json:"failureInfo,omitempty"`
	// TaskRootDir is the task directory on the node (holds wd/, stdout.txt, stderr.txt).
	TaskRootDir string `json:"taskRootDir,omitempty"`
	// UserCPU and KernelCPU are the CPU time the attempt's process used
	// (completed events).
	UserCPU   time.Duration `json:"userCpu,omitempty"`
	KernelCPU time.Duration `json:"kernelCpu,omitempty"`
}

// AppendJSON appends the event's JSON encoding (the same document
// json.Marshal gives) to b. Workers encode one per task, so it is written
// out rather than reflected.
func (e *TaskEvent) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = batch.AppendJSONString(b, e.Type)
	b = append(b, `,"account":`...)
	b = batch.AppendJSONString(b, e.Account)
	b = append(b, `,"jobId":`...)
	b = batch.AppendJSONString(b, e.JobID)
	b = append(b, `,"taskId":`...)
	b = batch.AppendJSONString(b, e.TaskID)
	b = append(b, `,"poolId":`...)
	b = batch.AppendJSONString(b, e.PoolID)
	b = append(b, `,"nodeId":`...)
	b = batch.AppendJSONString(b, e.NodeID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(e.Attempt), 10)
	b = append(b, `,"delivery":`...)
	b = strconv.AppendInt(b, int64(e.Delivery), 10)
	b = appendJSONTime(b, `,"startTime":`, e.StartTime)
	b = appendJSONTime(b, `,"endTime":`, e.EndTime)
	if e.ExitCode != nil {
		b = append(b, `,"exitCode":`...)
		b = strconv.AppendInt(b, int64(*e.ExitCode), 10)
	}
	if e.FailureInfo != nil {
		fi, err := json.Marshal(e.FailureInfo) // rare: failed attempts only
		if err == nil {
			b = append(b, `,"failureInfo":`...)
			b = append(b, fi...)
		}
	}
	if e.TaskRootDir != "" {
		b = append(b, `,"taskRootDir":`...)
		b = batch.AppendJSONString(b, e.TaskRootDir)
	}
	if e.UserCPU != 0 {
		b = append(b, `,"userCpu":`...)
		b = strconv.AppendInt(b, int64(e.UserCPU), 10)
	}
	if e.KernelCPU != 0 {
		b = append(b, `,"kernelCpu":`...)
		b = strconv.AppendInt(b, int64(e.KernelCPU), 10)
	}
	return append(b, '}')
}

// appendJSONTime appends name and t as encoding/json writes a time.Time,
// unless t is zero (omitzero).
func appendJSONTime(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return b // not representable in RFC 3339, as json.Marshal refuses too
	}
	b = append(b, name...)
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// MsgID is the Nats-Msg-Id of an event, so a retried publish is stored once.
func (e *TaskEvent) MsgID() string {
	return e.Type + "/" + e.Account + "/" + batch.Key(e.JobID) + "/" + batch.Key(e.TaskID) + "/" +
		strconv.Itoa(e.Attempt) + "/" + strconv.Itoa(e.Delivery)
}

// EventBatchHeader marks a message of the events stream whose body is a
// TaskEventBatch rather than one TaskEvent. Workers report completions in
// batches (published to topology.EventBatchSubject) so that a busy node
// pays one stored message, one PubAck and one dispatcher delivery for many
// tasks.
const EventBatchHeader = "Natch-Event-Batch"

// TaskEventBatch is several task events of one node in one message. Each
// event is applied on its own, exactly as if it had come alone; the message
// is acknowledged once all of them are applied.
type TaskEventBatch struct {
	Events []TaskEvent `json:"events"`
}

// NodeRecord is a compute node as stored in the nodes bucket. The worker
// creates it and heartbeats it; the dispatcher marks it offline when the
// heartbeats stop; the scaler removes it when the node leaves the pool.
type NodeRecord struct {
	batch.ComputeNode
	Account string `json:"account"`
	PoolID  string `json:"poolId"`
	// Heartbeat is when the worker last reported; LastSeen of a live node.
	Heartbeat time.Time `json:"heartbeat"`
	// Slots is the node's task slots (the pool's taskSlotsPerNode).
	Slots int `json:"slots"`
	// RootDir is AZ_BATCH_NODE_ROOT_DIR on the node.
	RootDir string `json:"rootDir,omitempty"`
	// RunningTasks are the tasks the node is running, "job/task".
	RunningTasks []string `json:"runningTasks,omitempty"`
	// RemoveOption is set by the dispatcher when the node was named in a
	// pool's removeNodes: the node deallocation option (OptionRequeue,
	// OptionTerminate, OptionTaskCompletion). The scaler removes exactly
	// these nodes (at once, or once they run no task for
	// OptionTaskCompletion); the worker keeps the field as it is.
	RemoveOption string `json:"removeOption,omitempty"`
	// Metrics is the node's latest resource sample (natch-only; not part
	// of the compute node the API shows).
	Metrics *NodeMetrics `json:"natchMetrics,omitempty"`
}

// Node commands (subjects topology.NodeSubject(account, node, command)).
const (
	CmdTerminateTask = "terminate" // body TerminateTask, reply empty or an error text
)

// TerminateTask asks a node to kill a task's process.
type TerminateTask struct {
	JobID   string `json:"jobId"`
	TaskID  string `json:"taskId"`
	Attempt int    `json:"attempt"`
	// Reason goes into the task's failureInfo (TaskEnded message).
	Reason string `json:"reason,omitempty"`
}

// Failure codes natch sets on tasks.
const (
	CodeTaskEnded         = "TaskEnded"
	CodeCommandLaunch     = "CommandLaunchFailed"
	CodeProgramNotFound   = "CommandProgramNotFound"
	CodeMaxWallClock      = "MaxWallClockTimeExpiry"
	CodeResourceDirCreate = "ResourceDirectoryCreateFailed"
	CodeTaskLost          = "TaskLost"
	// CodeAppPackage: an application package could not be downloaded or
	// unpacked on the node (Azure's ApplicationPackageError).
	CodeAppPackage = "ApplicationPackageError"
)

// TaskLogsContainer is the auto-storage (object store) container of an
// account where workers keep copies of tasks' stdout.txt and stderr.txt,
// so that the logs of a completed task outlive its node.
const TaskLogsContainer = "natch-task-logs"

// TaskLogBlob is the blob name of a task log copy in TaskLogsContainer:
// "<jobId>/<taskId>/<file>", file being stdout.txt or stderr.txt.
func TaskLogBlob(jobID, taskID, file string) string {
	return jobID + "/" + taskID + "/" + file
}
