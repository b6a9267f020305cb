package batch

import (
	"strconv"
	"time"
)

// Default ids and limits of a job's preparation and release tasks.
const (
	// DefaultJobPreparationID is the id of a job preparation task that gives none.
	DefaultJobPreparationID = "jobpreparation"
	// DefaultJobReleaseID is the id of a job release task that gives none.
	DefaultJobReleaseID = "jobrelease"
	// MaxJobReleaseWallClock is the default and the largest maxWallClockTime
	// of a job release task.
	MaxJobReleaseWallClock = 15 * time.Minute
)

// JobPreparationTask runs on a node before the first task of its job there
// (Azure's JobPreparationTask).
type JobPreparationTask struct {
	ID                            string           `json:"id,omitempty"`
	CommandLine                   string           `json:"commandLine"`
	ContainerSettings             Raw              `json:"containerSettings,omitempty"`
	ResourceFiles                 []ResourceFile   `json:"resourceFiles,omitempty"`
	EnvironmentSettings           []NameValue      `json:"environmentSettings,omitempty"`
	Constraints                   *TaskConstraints `json:"constraints,omitempty"`
	WaitForSuccess                *bool            `json:"waitForSuccess,omitempty"`
	UserIdentity                  Raw              `json:"userIdentity,omitempty"`
	RerunOnNodeRebootAfterSuccess *bool            `json:"rerunOnNodeRebootAfterSuccess,omitempty"`
}

// JobReleaseTask runs on every node that ran the job's preparation task
// when the job ends (Azure's JobReleaseTask).
type JobReleaseTask struct {
	ID                  string         `json:"id,omitempty"`
	CommandLine         string         `json:"commandLine"`
	ContainerSettings   Raw            `json:"containerSettings,omitempty"`
	ResourceFiles       []ResourceFile `json:"resourceFiles,omitempty"`
	EnvironmentSettings []NameValue    `json:"environmentSettings,omitempty"`
	MaxWallClockTime    *Duration      `json:"maxWallClockTime,omitempty"`
	RetentionTime       *Duration      `json:"retentionTime,omitempty"`
	UserIdentity        Raw            `json:"userIdentity,omitempty"`
}

// JobPreparationTaskExecutionInformation is the state of a job preparation
// task on one node.
type JobPreparationTaskExecutionInformation struct {
	StartTime            *Time                   `json:"startTime,omitempty"`
	EndTime              *Time                   `json:"endTime,omitempty"`
	State                string                  `json:"state"` // running | completed
	TaskRootDirectory    string                  `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string                  `json:"taskRootDirectoryUrl,omitempty"`
	ExitCode             *int                    `json:"exitCode,omitempty"`
	ContainerInfo        Raw                     `json:"containerInfo,omitempty"`
	FailureInfo          *TaskFailureInformation `json:"failureInfo,omitempty"`
	RetryCount           int                     `json:"retryCount"`
	LastRetryTime        *Time                   `json:"lastRetryTime,omitempty"`
	Result               string                  `json:"result,omitempty"` // success | failure
}

// JobReleaseTaskExecutionInformation is the state of a job release task on
// one node.
type JobReleaseTaskExecutionInformation struct {
	StartTime            *Time                   `json:"startTime,omitempty"`
	EndTime              *Time                   `json:"endTime,omitempty"`
	State                string                  `json:"state"` // running | completed
	TaskRootDirectory    string                  `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string                  `json:"taskRootDirectoryUrl,omitempty"`
	ExitCode             *int                    `json:"exitCode,omitempty"`
	ContainerInfo        Raw                     `json:"containerInfo,omitempty"`
	FailureInfo          *TaskFailureInformation `json:"failureInfo,omitempty"`
	Result               string                  `json:"result,omitempty"` // success | failure
}

// JobPreparationAndReleaseTaskExecutionInformation is one node's entry of
// job listPreparationAndReleaseTaskStatus.
type JobPreparationAndReleaseTaskExecutionInformation struct {
	PoolID                          string                                  `json:"poolId,omitempty"`
	NodeID                          string                                  `json:"nodeId,omitempty"`
	NodeURL                         string                                  `json:"nodeUrl,omitempty"`
	JobPreparationTaskExecutionInfo *JobPreparationTaskExecutionInformation `json:"jobPreparationTaskExecutionInfo,omitempty"`
	JobReleaseTaskExecutionInfo     *JobReleaseTaskExecutionInformation     `json:"jobReleaseTaskExecutionInfo,omitempty"`
}

// WaitsForSuccess reports whether the job's tasks wait for the preparation
// task to succeed (waitForSuccess, default true).
func (p *JobPreparationTask) WaitsForSuccess() bool {
	return p.WaitForSuccess == nil || *p.WaitForSuccess
}

// RerunsAfterReboot reports whether a successful preparation task runs
// again after the node restarts (rerunOnNodeRebootAfterSuccess, default true).
func (p *JobPreparationTask) RerunsAfterReboot() bool {
	return p.RerunOnNodeRebootAfterSuccess == nil || *p.RerunOnNodeRebootAfterSuccess
}

// WaitsForSuccess reports whether the node takes tasks only once the start
// task succeeded (waitForSuccess, default true).
func (s *StartTask) WaitsForSuccess() bool {
	return s.WaitForSuccess == nil || *s.WaitForSuccess
}

// validStartTask checks a pool's start task; property is its name
// ("startTask").
func validStartTask(property string, st *StartTask) error {
	if st == nil {
		return nil
	}
	if st.CommandLine == "" {
		return MissingProperty(property + ".commandLine")
	}
	if err := retryCount(property+".maxTaskRetryCount", st.MaxTaskRetryCount); err != nil {
		return err
	}
	if err := validEnv(property+".environmentSettings", st.EnvironmentSettings); err != nil {
		return err
	}
	return validResourceFiles(property+".resourceFiles", st.ResourceFiles)
}

func validResourceFiles(property string, files []ResourceFile) error {
	for i, rf := range files {
		if err := ValidateResourceFile(property+"["+strconv.Itoa(i)+"]", rf); err != nil {
			return err
		}
	}
	return nil
}

// validJobPrepRelease checks a job's preparation and release tasks and
// fills Azure's defaults (ids, waitForSuccess, rerunOnNodeRebootAfterSuccess,
// constraints, the release task's 15-minute maxWallClockTime).
func validJobPrepRelease(j *Job) error {
	jp, jr := j.JobPreparationTask, j.JobReleaseTask
	if jr != nil && jp == nil {
		return MissingProperty("jobPreparationTask").With("Reason", "a job release task requires a job preparation task")
	}
	if jp != nil {
		if jp.ID == "" {
			jp.ID = DefaultJobPreparationID
		}
		if err := ValidID("jobPreparationTask.id", jp.ID); err != nil {
			return err
		}
		if jp.CommandLine == "" {
			return MissingProperty("jobPreparationTask.commandLine")
		}
		if err := validEnv("jobPreparationTask.environmentSettings", jp.EnvironmentSettings); err != nil {
			return err
		}
		if err := validResourceFiles("jobPreparationTask.resourceFiles", jp.ResourceFiles); err != nil {
			return err
		}
		if c := jp.Constraints; c != nil {
			if err := retryCount("jobPreparationTask.constraints.maxTaskRetryCount", c.MaxTaskRetryCount); err != nil {
				return err
			}
			if err := positiveDuration("jobPreparationTask.constraints.maxWallClockTime", c.MaxWallClockTime); err != nil {
				return err
			}
			if c.RetentionTime != nil && *c.RetentionTime < 0 {
				return InvalidProperty("jobPreparationTask.constraints.retentionTime", "must not be negative")
			}
		}
		if jm := j.JobManagerTask; jm != nil && EqualFold(jm.ID, jp.ID) {
			return InvalidProperty("jobPreparationTask.id", "must differ from the job manager task's id")
		}
		if jp.WaitForSuccess == nil {
			jp.WaitForSuccess = Bool(true)
		}
		if jp.RerunOnNodeRebootAfterSuccess == nil {
			jp.RerunOnNodeRebootAfterSuccess = Bool(true)
		}
		jp.Constraints = taskConstraintDefaults(jp.Constraints, nil)
	}
	if jr != nil {
		if jr.ID == "" {
			jr.ID = DefaultJobReleaseID
		}
		if err := ValidID("jobReleaseTask.id", jr.ID); err != nil {
			return err
		}
		if jr.CommandLine == "" {
			return MissingProperty("jobReleaseTask.commandLine")
		}
		if EqualFold(jr.ID, jp.ID) {
			return InvalidProperty("jobReleaseTask.id", "must differ from the job preparation task's id")
		}
		if jm := j.JobManagerTask; jm != nil && EqualFold(jm.ID, jr.ID) {
			return InvalidProperty("jobReleaseTask.id", "must differ from the job manager task's id")
		}
		if err := validEnv("jobReleaseTask.environmentSettings", jr.EnvironmentSettings); err != nil {
			return err
		}
		if err := validResourceFiles("jobReleaseTask.resourceFiles", jr.ResourceFiles); err != nil {
			return err
		}
		if err := positiveDuration("jobReleaseTask.maxWallClockTime", jr.MaxWallClockTime); err != nil {
			return err
		}
		if jr.MaxWallClockTime != nil && *jr.MaxWallClockTime > Duration(MaxJobReleaseWallClock) {
			return InvalidProperty("jobReleaseTask.maxWallClockTime", "may not be longer than 15 minutes")
		}
		if jr.RetentionTime != nil && *jr.RetentionTime < 0 {
			return InvalidProperty("jobReleaseTask.retentionTime", "must not be negative")
		}
		if jr.MaxWallClockTime == nil {
			jr.MaxWallClockTime = D(MaxJobReleaseWallClock)
		}
		if jr.RetentionTime == nil {
			jr.RetentionTime = D(7 * 24 * time.Hour)
		}
	}
	return nil
}

// validTaskNotPrepRelease rejects a task whose id is the job's preparation
// or release task's (409 TaskIdSameAsJobPreparationTask / …ReleaseTask).
func validTaskNotPrepRelease(t *Task, job *Job) error {
	if job == nil {
		return nil
	}
	if jp := job.JobPreparationTask; jp != nil && EqualFold(t.ID, cmpID(jp.ID, DefaultJobPreparationID)) {
		return Errorf(409, "TaskIdSameAsJobPreparationTask",
			"The task id is the same as that of the job preparation task.").With("PropertyName", "id")
	}
	if jr := job.JobReleaseTask; jr != nil && EqualFold(t.ID, cmpID(jr.ID, DefaultJobReleaseID)) {
		return Errorf(409, "TaskIdSameAsJobReleaseTask",
			"The task id is the same as that of the job release task.").With("PropertyName", "id")
	}
	return nil
}

func cmpID(id, def string) string {
	if id == "" {
		return def
	}
	return id
}
