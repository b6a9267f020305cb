package batch

import "encoding/json"

// Raw is a JSON value natch stores and returns as given but does not act on
// (yet): container settings, user identities, network configuration and so on.
type Raw = json.RawMessage

// NameValue is a name/value pair: metadata items and environment settings.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ResourceFile is a file staged onto the node before a task runs.
type ResourceFile struct {
	AutoStorageContainerName string `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string `json:"httpUrl,omitempty"`
	BlobPrefix               string `json:"blobPrefix,omitempty"`
	FilePath                 string `json:"filePath,omitempty"`
	FileMode                 string `json:"fileMode,omitempty"`
	IdentityReference        Raw    `json:"identityReference,omitempty"`
}

// OutputFile is a file pattern uploaded after a task ends.
type OutputFile struct {
	FilePattern   string                  `json:"filePattern"`
	Destination   OutputFileDestination   `json:"destination"`
	UploadOptions OutputFileUploadOptions `json:"uploadOptions"`
}

// OutputFileDestination is where output files go.
type OutputFileDestination struct {
	Container *OutputFileBlobContainerDestination `json:"container,omitempty"`
}

// OutputFileBlobContainerDestination is a blob container (and path) for output files.
type OutputFileBlobContainerDestination struct {
	Path              string      `json:"path,omitempty"`
	ContainerURL      string      `json:"containerUrl"`
	IdentityReference Raw         `json:"identityReference,omitempty"`
	UploadHeaders     []NameValue `json:"uploadHeaders,omitempty"`
}

// OutputFileUploadOptions says when output files are uploaded.
type OutputFileUploadOptions struct {
	UploadCondition string `json:"uploadCondition"` // tasksuccess | taskfailure | taskcompletion
}

// ApplicationPackageReference names an application package (version optional).
type ApplicationPackageReference struct {
	ApplicationID string `json:"applicationId"`
	Version       string `json:"version,omitempty"`
}

// TaskConstraints are a task's execution limits.
type TaskConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	RetentionTime     *Duration `json:"retentionTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// JobConstraints are a job's execution limits.
type JobConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// StartTask runs on every node of a pool when it joins.
type StartTask struct {
	CommandLine                  string                        `json:"commandLine"`
	ContainerSettings            Raw                           `json:"containerSettings,omitempty"`
	ResourceFiles                []ResourceFile                `json:"resourceFiles,omitempty"`
	EnvironmentSettings          []NameValue                   `json:"environmentSettings,omitempty"`
	UserIdentity                 Raw                           `json:"userIdentity,omitempty"`
	MaxTaskRetryCount            *int                          `json:"maxTaskRetryCount,omitempty"`
	WaitForSuccess               *bool                         `json:"waitForSuccess,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
}

// TaskSchedulingPolicy says how tasks are spread over a pool's nodes.
type TaskSchedulingPolicy struct {
	NodeFillType string `json:"nodeFillType"` // spread | pack
}

// ResizeError is an error that happened while resizing a pool.
type ResizeError struct {
	Code    string      `json:"code,omitempty"`
	Message string      `json:"message,omitempty"`
	Values  []NameValue `json:"values,omitempty"`
}

// AutoScaleRun is the result of evaluating an autoscale formula.
type AutoScaleRun struct {
	Timestamp Time          `json:"timestamp"`
	Results   string        `json:"results,omitempty"`
	Error     *AutoScaleErr `json:"error,omitempty"`
}

// AutoScaleErr is an autoscale evaluation error.
type AutoScaleErr struct {
	Code    string         `json:"code,omitempty"`
	Message string         `json:"message,omitempty"`
	Values  []NameValue    `json:"values,omitempty"`
	Details []AutoScaleErr `json:"details,omitempty"`
}

// Pool is a pool of compute nodes (CloudPool / PoolAddParameter).
type Pool struct {
	ID                            string                        `json:"id"`
	DisplayName                   string                        `json:"displayName,omitempty"`
	URL                           string                        `json:"url,omitempty"`
	ETag                          string                        `json:"eTag,omitempty"`
	LastModified                  *Time                         `json:"lastModified,omitempty"`
	CreationTime                  *Time                         `json:"creationTime,omitempty"`
	State                         string                        `json:"state,omitempty"`
	StateTransitionTime           *Time                         `json:"stateTransitionTime,omitempty"`
	AllocationState               string                        `json:"allocationState,omitempty"`
	AllocationStateTransitionTime *Time                         `json:"allocationStateTransitionTime,omitempty"`
	VMSize                        string                        `json:"vmSize,omitempty"`
	CloudServiceConfiguration     Raw                           `json:"cloudServiceConfiguration,omitempty"`
	VirtualMachineConfiguration   Raw                           `json:"virtualMachineConfiguration,omitempty"`
	ResizeTimeout                 *Duration                     `json:"resizeTimeout,omitempty"`
	ResizeErrors                  []ResizeError                 `json:"resizeErrors,omitempty"`
	CurrentDedicatedNodes         *int                          `json:"currentDedicatedNodes,omitempty"`
	CurrentLowPriorityNodes       *int                          `json:"currentLowPriorityNodes,omitempty"`
	TargetDedicatedNodes          *int                          `json:"targetDedicatedNodes,omitempty"`
	TargetLowPriorityNodes        *int                          `json:"targetLowPriorityNodes,omitempty"`
	EnableAutoScale               *bool                         `json:"enableAutoScale,omitempty"`
	AutoScaleFormula              string                        `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval   *Duration                     `json:"autoScaleEvaluationInterval,omitempty"`
	AutoScaleRun                  *AutoScaleRun                 `json:"autoScaleRun,omitempty"`
	EnableInterNodeCommunication  *bool                         `json:"enableInterNodeCommunication,omitempty"`
	NetworkConfiguration          Raw                           `json:"networkConfiguration,omitempty"`
	StartTask                     *StartTask                    `json:"startTask,omitempty"`
	CertificateReferences         Raw                           `json:"certificateReferences,omitempty"`
	ApplicationPackageReferences  []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	ApplicationLicenses           Raw                           `json:"applicationLicenses,omitempty"`
	TaskSlotsPerNode              *int                          `json:"taskSlotsPerNode,omitempty"`
	TaskSchedulingPolicy          *TaskSchedulingPolicy         `json:"taskSchedulingPolicy,omitempty"`
	UserAccounts                  Raw                           `json:"userAccounts,omitempty"`
	Metadata                      []NameValue                   `json:"metadata,omitempty"`
	Stats                         *PoolStatistics               `json:"stats,omitempty"`
	MountConfiguration            Raw                           `json:"mountConfiguration,omitempty"`
	Identity                      Raw                           `json:"identity,omitempty"`
	TargetNodeCommunicationMode   string                        `json:"targetNodeCommunicationMode,omitempty"`
	CurrentNodeCommunicationMode  string                        `json:"currentNodeCommunicationMode,omitempty"`
	// NodeDeallocationOption (natch) is the nodeDeallocationOption of the
	// last resize, or the $NodeDeallocationOption of the last autoscale
	// evaluation: what the nodes that leave when the pool shrinks do with
	// their running tasks. Empty means requeue.
	NodeDeallocationOption string `json:"natchNodeDeallocationOption,omitempty"`
}

// PoolResize is the body of pool resize.
type PoolResize struct {
	TargetDedicatedNodes   *int      `json:"targetDedicatedNodes,omitempty"`
	TargetLowPriorityNodes *int      `json:"targetLowPriorityNodes,omitempty"`
	ResizeTimeout          *Duration `json:"resizeTimeout,omitempty"`
	NodeDeallocationOption string    `json:"nodeDeallocationOption,omitempty"`
}

// PoolEnableAutoScale is the body of pool enableAutoScale.
type PoolEnableAutoScale struct {
	AutoScaleFormula            string    `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval *Duration `json:"autoScaleEvaluationInterval,omitempty"`
}

// PoolEvaluateAutoScale is the body of pool evaluateAutoScale.
type PoolEvaluateAutoScale struct {
	AutoScaleFormula string `json:"autoScaleFormula"`
}

// PoolInformation says which pool a job runs on: an existing one (PoolID)
// or one the service creates for it (AutoPoolSpecification).
type PoolInformation struct {
	PoolID                string                 `json:"poolId,omitempty"`
	AutoPoolSpecification *AutoPoolSpecification `json:"autoPoolSpecification,omitempty"`
}

// JobExecutionInformation is a job's execution state.
type JobExecutionInformation struct {
	StartTime       *Time  `json:"startTime,omitempty"`
	EndTime         *Time  `json:"endTime,omitempty"`
	PoolID          string `json:"poolId,omitempty"`
	SchedulingError Raw    `json:"schedulingError,omitempty"`
	TerminateReason string `json:"terminateReason,omitempty"`
}

// Job is a job (CloudJob / JobAddParameter).
type Job struct {
	ID                          string                   `json:"id"`
	DisplayName                 string                   `json:"displayName,omitempty"`
	UsesTaskDependencies        *bool                    `json:"usesTaskDependencies,omitempty"`
	URL                         string                   `json:"url,omitempty"`
	ETag                        string                   `json:"eTag,omitempty"`
	LastModified                *Time                    `json:"lastModified,omitempty"`
	CreationTime                *Time                    `json:"creationTime,omitempty"`
	State                       string                   `json:"state,omitempty"`
	StateTransitionTime         *Time                    `json:"stateTransitionTime,omitempty"`
	PreviousState               string                   `json:"previousState,omitempty"`
	PreviousStateTransitionTime *Time                    `json:"previousStateTransitionTime,omitempty"`
	Priority                    *int                     `json:"priority,omitempty"`
	AllowTaskPreemption         *bool                    `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks            *int                     `json:"maxParallelTasks,omitempty"`
	Constraints                 *JobConstraints          `json:"constraints,omitempty"`
	JobManagerTask              *JobManagerTask          `json:"jobManagerTask,omitempty"`
	JobPreparationTask          *JobPreparationTask      `json:"jobPreparationTask,omitempty"`
	JobReleaseTask              *JobReleaseTask          `json:"jobReleaseTask,omitempty"`
	CommonEnvironmentSettings   []NameValue              `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                    *PoolInformation         `json:"poolInfo,omitempty"`
	OnAllTasksComplete          string                   `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure               string                   `json:"onTaskFailure,omitempty"`
	NetworkConfiguration        Raw                      `json:"networkConfiguration,omitempty"`
	Metadata                    []NameValue              `json:"metadata,omitempty"`
	ExecutionInfo               *JobExecutionInformation `json:"executionInfo,omitempty"`
	Stats                       *JobStatistics           `json:"stats,omitempty"`
}

// JobManagerTask is the task that runs first when a job starts, typically
// to add the job's other tasks.
type JobManagerTask struct {
	ID                           string                        `json:"id"`
	DisplayName                  string                        `json:"displayName,omitempty"`
	CommandLine                  string                        `json:"commandLine"`
	ContainerSettings            Raw                           `json:"containerSettings,omitempty"`
	ResourceFiles                []ResourceFile                `json:"resourceFiles,omitempty"`
	OutputFiles                  []OutputFile                  `json:"outputFiles,omitempty"`
	EnvironmentSettings          []NameValue                   `json:"environmentSettings,omitempty"`
	Constraints                  *TaskConstraints              `json:"constraints,omitempty"`
	RequiredSlots                *int                          `json:"requiredSlots,omitempty"`
	KillJobOnCompletion          *bool                         `json:"killJobOnCompletion,omitempty"`
	UserIdentity                 Raw                           `json:"userIdentity,omitempty"`
	RunExclusive                 *bool                         `json:"runExclusive,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  *AuthenticationTokenSettings  `json:"authenticationTokenSettings,omitempty"`
	AllowLowPriorityNode         *bool                         `json:"allowLowPriorityNode,omitempty"`
}

// AuthenticationTokenSettings ask for a token in the task's
// AZ_BATCH_AUTHENTICATION_TOKEN that lets it call the API.
type AuthenticationTokenSettings struct {
	Access []string `json:"access,omitempty"` // "job": operations on the task's own job
}

// AccessJob is the one authentication token access scope: the task's job.
const AccessJob = "job"

// JobTerminate is the optional body of job terminate.
type JobTerminate struct {
	TerminateReason string `json:"terminateReason,omitempty"`
}

// TaskFailureInformation says why a task failed.
type TaskFailureInformation struct {
	Category string      `json:"category"` // usererror | servererror
	Code     string      `json:"code,omitempty"`
	Message  string      `json:"message,omitempty"`
	Details  []NameValue `json:"details,omitempty"`
}

// TaskExecutionInformation is a task's execution state.
type TaskExecutionInformation struct {
	StartTime       *Time                   `json:"startTime,omitempty"`
	EndTime         *Time                   `json:"endTime,omitempty"`
	ExitCode        *int                    `json:"exitCode,omitempty"`
	ContainerInfo   Raw                     `json:"containerInfo,omitempty"`
	FailureInfo     *TaskFailureInformation `json:"failureInfo,omitempty"`
	RetryCount      int                     `json:"retryCount"`
	LastRetryTime   *Time                   `json:"lastRetryTime,omitempty"`
	RequeueCount    int                     `json:"requeueCount"`
	LastRequeueTime *Time                   `json:"lastRequeueTime,omitempty"`
	Result          string                  `json:"result,omitempty"` // success | failure
}

// ComputeNodeInformation says where a task ran.
type ComputeNodeInformation struct {
	AffinityID           string `json:"affinityId,omitempty"`
	NodeURL              string `json:"nodeUrl,omitempty"`
	PoolID               string `json:"poolId,omitempty"`
	NodeID               string `json:"nodeId,omitempty"`
	TaskRootDirectory    string `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string `json:"taskRootDirectoryUrl,omitempty"`
}

// Task is a task (CloudTask / TaskAddParameter).
type Task struct {
	ID                           string                        `json:"id"`
	DisplayName                  string                        `json:"displayName,omitempty"`
	URL                          string                        `json:"url,omitempty"`
	ETag                         string                        `json:"eTag,omitempty"`
	LastModified                 *Time                         `json:"lastModified,omitempty"`
	CreationTime                 *Time                         `json:"creationTime,omitempty"`
	ExitConditions               *ExitConditions               `json:"exitConditions,omitempty"`
	State                        string                        `json:"state,omitempty"`
	StateTransitionTime          *Time                         `json:"stateTransitionTime,omitempty"`
	PreviousState                string                        `json:"previousState,omitempty"`
	PreviousStateTransitionTime  *Time                         `json:"previousStateTransitionTime,omitempty"`
	CommandLine                  string                        `json:"commandLine"`
	ContainerSettings            Raw                           `json:"containerSettings,omitempty"`
	ResourceFiles                []ResourceFile                `json:"resourceFiles,omitempty"`
	OutputFiles                  []OutputFile                  `json:"outputFiles,omitempty"`
	EnvironmentSettings          []NameValue                   `json:"environmentSettings,omitempty"`
	AffinityInfo                 Raw                           `json:"affinityInfo,omitempty"`
	Constraints                  *TaskConstraints              `json:"constraints,omitempty"`
	RequiredSlots                *int                          `json:"requiredSlots,omitempty"`
	UserIdentity                 Raw                           `json:"userIdentity,omitempty"`
	ExecutionInfo                *TaskExecutionInformation     `json:"executionInfo,omitempty"`
	NodeInfo                     *ComputeNodeInformation       `json:"nodeInfo,omitempty"`
	MultiInstanceSettings        *MultiInstanceSettings        `json:"multiInstanceSettings,omitempty"`
	Stats                        *TaskStatistics               `json:"stats,omitempty"`
	DependsOn                    *TaskDependencies             `json:"dependsOn,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  *AuthenticationTokenSettings  `json:"authenticationTokenSettings,omitempty"`
	// WaitReason (natch) says why an active task is not running yet. It is
	// computed when the task is read, never stored; Azure's SDKs ignore it.
	WaitReason *WaitReason `json:"natchWaitReason,omitempty"`
}

// WaitReason says why an active task waits: a code a program can match
// and a sentence for people.
type WaitReason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// TaskDependencies are the tasks a task waits for (dependsOn).
type TaskDependencies struct {
	TaskIDs      []string      `json:"taskIds,omitempty"`
	TaskIDRanges []TaskIDRange `json:"taskIdRanges,omitempty"`
}

// TaskIDRange is an inclusive range of integer task ids; "4", "04" and
// "004" all count as 4.
type TaskIDRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// ExitConditions say what a task's way of ending means for its job and its
// dependents.
type ExitConditions struct {
	ExitCodes          []ExitCodeMapping      `json:"exitCodes,omitempty"`
	ExitCodeRanges     []ExitCodeRangeMapping `json:"exitCodeRanges,omitempty"`
	PreProcessingError *ExitOptions           `json:"preProcessingError,omitempty"`
	FileUploadError    *ExitOptions           `json:"fileUploadError,omitempty"`
	Default            *ExitOptions           `json:"default,omitempty"`
}

// ExitCodeMapping maps one exit code to exit options.
type ExitCodeMapping struct {
	Code        int         `json:"code"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitCodeRangeMapping maps an inclusive range of exit codes to exit options.
type ExitCodeRangeMapping struct {
	Start       int         `json:"start"`
	End         int         `json:"end"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitOptions are what happens when a task ends a given way.
type ExitOptions struct {
	JobAction        string `json:"jobAction,omitempty"`        // none | disable | terminate
	DependencyAction string `json:"dependencyAction,omitempty"` // satisfy | block
}

// Exit option values.
const (
	JobActionNone      = "none"
	JobActionDisable   = "disable"
	JobActionTerminate = "terminate"

	DependencySatisfy = "satisfy"
	DependencyBlock   = "block"

	OnTaskFailureNoAction          = "noaction"
	OnTaskFailurePerformExitAction = "performexitoptionsjobaction"
)

// TaskStatistics are the resources a task's last attempt used. natch
// measures the CPU times and the wall clock time; the I/O counters are 0.
type TaskStatistics struct {
	URL            string   `json:"url"`
	StartTime      Time     `json:"startTime"`
	LastUpdateTime Time     `json:"lastUpdateTime"`
	UserCPUTime    Duration `json:"userCPUTime"`
	KernelCPUTime  Duration `json:"kernelCPUTime"`
	WallClockTime  Duration `json:"wallClockTime"`
	ReadIOps       int64    `json:"readIOps"`
	WriteIOps      int64    `json:"writeIOps"`
	ReadIOGiB      float64  `json:"readIOGiB"`
	WriteIOGiB     float64  `json:"writeIOGiB"`
	WaitTime       Duration `json:"waitTime"`
}

// TaskAddCollection is the body of addtaskcollection.
type TaskAddCollection struct {
	Value []json.RawMessage `json:"value"`
}

// TaskAddResult is one task's outcome in addtaskcollection.
type TaskAddResult struct {
	Status       string     `json:"status"` // success | clienterror | servererror
	TaskID       string     `json:"taskId"`
	ETag         string     `json:"eTag,omitempty"`
	LastModified *Time      `json:"lastModified,omitempty"`
	Location     string     `json:"location,omitempty"`
	Error        *WireError `json:"error,omitempty"`
}

// TaskCounts are a job's task counts by state.
type TaskCounts struct {
	Active    int `json:"active"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// TaskCountsResult is the body of job taskcounts.
type TaskCountsResult struct {
	TaskCounts     TaskCounts `json:"taskCounts"`
	TaskSlotCounts TaskCounts `json:"taskSlotCounts"`
}

// TaskInformation is a recent task of a compute node.
type TaskInformation struct {
	TaskURL       string                    `json:"taskUrl,omitempty"`
	JobID         string                    `json:"jobId,omitempty"`
	TaskID        string                    `json:"taskId,omitempty"`
	SubtaskID     *int                      `json:"subtaskId,omitempty"`
	TaskState     string                    `json:"taskState"`
	ExecutionInfo *TaskExecutionInformation `json:"executionInfo,omitempty"`
}

// StartTaskInformation is the state of a node's start task.
type StartTaskInformation struct {
	State         string                  `json:"state"` // running | completed
	StartTime     *Time                   `json:"startTime,omitempty"`
	EndTime       *Time                   `json:"endTime,omitempty"`
	ExitCode      *int                    `json:"exitCode,omitempty"`
	FailureInfo   *TaskFailureInformation `json:"failureInfo,omitempty"`
	RetryCount    int                     `json:"retryCount"`
	LastRetryTime *Time                   `json:"lastRetryTime,omitempty"`
	Result        string                  `json:"result,omitempty"`
}

// NodeAgentInformation describes the node agent.
type NodeAgentInformation struct {
	Version        string `json:"version"`
	LastUpdateTime Time   `json:"lastUpdateTime"`
}

// ComputeNodeError is an error reported by a node.
type ComputeNodeError struct {
	Code         string      `json:"code,omitempty"`
	Message      string      `json:"message,omitempty"`
	ErrorDetails []NameValue `json:"errorDetails,omitempty"`
}

// ComputeNode is a compute node: a natch worker agent.
type ComputeNode struct {
	ID                    string                `json:"id"`
	URL                   string                `json:"url,omitempty"`
	State                 string                `json:"state"`
	SchedulingState       string                `json:"schedulingState,omitempty"`
	StateTransitionTime   *Time                 `json:"stateTransitionTime,omitempty"`
	LastBootTime          *Time                 `json:"lastBootTime,omitempty"`
	AllocationTime        *Time                 `json:"allocationTime,omitempty"`
	IPAddress             string                `json:"ipAddress,omitempty"`
	AffinityID            string                `json:"affinityId,omitempty"`
	VMSize                string                `json:"vmSize,omitempty"`
	TotalTasksRun         int                   `json:"totalTasksRun"`
	RunningTasksCount     int                   `json:"runningTasksCount"`
	RunningTaskSlotsCount int                   `json:"runningTaskSlotsCount"`
	TotalTasksSucceeded   int                   `json:"totalTasksSucceeded"`
	RecentTasks           []TaskInformation     `json:"recentTasks,omitempty"`
	StartTask             *StartTask            `json:"startTask,omitempty"`
	StartTaskInfo         *StartTaskInformation `json:"startTaskInfo,omitempty"`
	Errors                []ComputeNodeError    `json:"errors,omitempty"`
	IsDedicated           bool                  `json:"isDedicated"`
	NodeAgentInfo         *NodeAgentInformation `json:"nodeAgentInfo,omitempty"`
}

// WireError is the JSON body of an API error (BatchError).
type WireError struct {
	Metadata string      `json:"odata.metadata,omitempty"`
	Code     string      `json:"code"`
	Message  WireMessage `json:"message"`
	Values   []KV        `json:"values,omitempty"`
}

// WireMessage is the message of a BatchError.
type WireMessage struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

// States and enum values natch uses.
const (
	PoolActive   = "active"
	PoolDeleting = "deleting"

	AllocSteady   = "steady"
	AllocResizing = "resizing"
	AllocStopping = "stopping"

	JobActive      = "active"
	JobDisabling   = "disabling"
	JobDisabled    = "disabled"
	JobEnabling    = "enabling"
	JobTerminating = "terminating"
	JobCompleted   = "completed"
	JobDeleting    = "deleting"

	TaskActive    = "active"
	TaskPreparing = "preparing"
	TaskRunning   = "running"
	TaskCompleted = "completed"

	NodeCreating  = "creating"
	NodeStarting  = "starting"
	NodeIdle      = "idle"
	NodeRunning   = "running"
	NodeOffline   = "offline"
	NodeLeaving   = "leavingpool"
	NodeUnusable  = "unusable"
	NodeUnknown   = "unknown"
	NodePreempted = "preempted"
	// NodeWaitingForStartTask: the start task runs and waitForSuccess holds
	// tasks back until it succeeds.
	NodeWaitingForStartTask = "waitingforstarttask"
	// NodeStartTaskFailed: the start task failed (retries exhausted) and
	// waitForSuccess keeps tasks off the node.
	NodeStartTaskFailed = "starttaskfailed"

	// StartTaskRunning and StartTaskCompleted are the states of a start,
	// job preparation or job release task.
	StartTaskRunning   = "running"
	StartTaskCompleted = "completed"

	ResultSuccess = "success"
	ResultFailure = "failure"

	CategoryUser   = "usererror"
	CategoryServer = "servererror"

	OnAllTasksNoAction  = "noaction"
	OnAllTasksTerminate = "terminatejob"
)

// JobDisable is the body of job disable.
type JobDisable struct {
	DisableTasks string `json:"disableTasks"` // requeue | terminate | wait
}

// What job disable does with the job's running tasks.
const (
	DisableRequeue   = "requeue"
	DisableTerminate = "terminate"
	DisableWait      = "wait"
)

// TaskUpdate is the body of task update (PUT): the task's new constraints.
type TaskUpdate struct {
	Constraints *TaskConstraints `json:"constraints,omitempty"`
}

// PoolPatch is the body of pool patch (only supplied properties change) and
// of pool updateProperties (every property is replaced).
type PoolPatch struct {
	StartTask                    *StartTask                    `json:"startTask,omitempty"`
	CertificateReferences        Raw                           `json:"certificateReferences,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	Metadata                     []NameValue                   `json:"metadata,omitempty"`
	TargetNodeCommunicationMode  string                        `json:"targetNodeCommunicationMode,omitempty"`
}
