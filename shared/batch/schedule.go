package batch

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a job schedule creates its jobs. All times are UTC.
type Schedule struct {
	// DoNotRunUntil is the earliest time a job may be created; absent: at once.
	DoNotRunUntil *Time `json:"doNotRunUntil,omitempty"`
	// DoNotRunAfter is the time after which no job is created; the schedule
	// then completes once its active job has.
	DoNotRunAfter *Time `json:"doNotRunAfter,omitempty"`
	// StartWindow is how long after its due time a job may still be
	// created; a recurrence missed by more is skipped. Absent: unlimited.
	StartWindow *Duration `json:"startWindow,omitempty"`
	// RecurrenceInterval is the time between the due times of successive
	// jobs. Absent: the schedule creates one job.
	RecurrenceInterval *Duration `json:"recurrenceInterval,omitempty"`
}

// JobSpecification is the template of the jobs a schedule creates.
type JobSpecification struct {
	Priority                  *int                `json:"priority,omitempty"`
	AllowTaskPreemption       *bool               `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks          *int                `json:"maxParallelTasks,omitempty"`
	DisplayName               string              `json:"displayName,omitempty"`
	UsesTaskDependencies      *bool               `json:"usesTaskDependencies,omitempty"`
	OnAllTasksComplete        string              `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             string              `json:"onTaskFailure,omitempty"`
	NetworkConfiguration      Raw                 `json:"networkConfiguration,omitempty"`
	Constraints               *JobConstraints     `json:"constraints,omitempty"`
	JobManagerTask            *JobManagerTask     `json:"jobManagerTask,omitempty"`
	JobPreparationTask        *JobPreparationTask `json:"jobPreparationTask,omitempty"`
	JobReleaseTask            *JobReleaseTask     `json:"jobReleaseTask,omitempty"`
	CommonEnvironmentSettings []NameValue         `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                  *PoolInformation    `json:"poolInfo,omitempty"`
	Metadata                  []NameValue         `json:"metadata,omitempty"`
}

// Job returns the job this specification describes, with the given id.
func (s *JobSpecification) Job(id string) Job {
	j := Job{ID: id, DisplayName: s.DisplayName, UsesTaskDependencies: s.UsesTaskDependencies,
		Priority: s.Priority, AllowTaskPreemption: s.AllowTaskPreemption, MaxParallelTasks: s.MaxParallelTasks,
		CommonEnvironmentSettings: s.CommonEnvironmentSettings, OnAllTasksComplete: s.OnAllTasksComplete,
		OnTaskFailure: s.OnTaskFailure, NetworkConfiguration: s.NetworkConfiguration, Metadata: s.Metadata}
	if s.Constraints != nil {
		c := *s.Constraints
		j.Constraints = &c
	}
	if s.JobManagerTask != nil {
		jm := *s.JobManagerTask
		j.JobManagerTask = &jm
	}
	if s.JobPreparationTask != nil {
		jp := *s.JobPreparationTask
		j.JobPreparationTask = &jp
	}
	if s.JobReleaseTask != nil {
		jr := *s.JobReleaseTask
		j.JobReleaseTask = &jr
	}
	if s.PoolInfo != nil {
		p := *s.PoolInfo
		j.PoolInfo = &p
	}
	return j
}

// RecentJob names the most recent job of a schedule.
type RecentJob struct {
	ID  string `json:"id,omitempty"`
	URL string `json:"url,omitempty"`
}

// JobScheduleExecutionInformation is what a schedule has done and will do.
type JobScheduleExecutionInformation struct {
	// NextRunTime is when the next job is due (absent when none will be).
	NextRunTime *Time `json:"nextRunTime,omitempty"`
	// RecentJob is the job created last.
	RecentJob *RecentJob `json:"recentJob,omitempty"`
	// EndTime is when the schedule completed.
	EndTime *Time `json:"endTime,omitempty"`
}

// JobSchedule is a job schedule (CloudJobSchedule / JobScheduleAddParameter).
type JobSchedule struct {
	ID                          string                           `json:"id"`
	DisplayName                 string                           `json:"displayName,omitempty"`
	URL                         string                           `json:"url,omitempty"`
	ETag                        string                           `json:"eTag,omitempty"`
	LastModified                *Time                            `json:"lastModified,omitempty"`
	CreationTime                *Time                            `json:"creationTime,omitempty"`
	State                       string                           `json:"state,omitempty"`
	StateTransitionTime         *Time                            `json:"stateTransitionTime,omitempty"`
	PreviousState               string                           `json:"previousState,omitempty"`
	PreviousStateTransitionTime *Time                            `json:"previousStateTransitionTime,omitempty"`
	Schedule                    *Schedule                        `json:"schedule,omitempty"`
	JobSpecification            *JobSpecification                `json:"jobSpecification,omitempty"`
	ExecutionInfo               *JobScheduleExecutionInformation `json:"executionInfo,omitempty"`
	Metadata                    []NameValue                      `json:"metadata,omitempty"`
	Stats                       Raw                              `json:"stats,omitempty"`
}

// JobSchedulePatch is the body of job schedule patch (PATCH: the supplied
// properties replace the current ones) and update (PUT: schedule and
// jobSpecification are required, an omitted metadata is cleared).
type JobSchedulePatch struct {
	Schedule         *Schedule         `json:"schedule,omitempty"`
	JobSpecification *JobSpecification `json:"jobSpecification,omitempty"`
	Metadata         []NameValue       `json:"metadata,omitempty"`
}

// JobPatch is the body of job patch (PATCH: the supplied properties
// change) and job update (PUT: poolInfo is required and every omitted
// property goes back to its default).
type JobPatch struct {
	Priority            *int             `json:"priority,omitempty"`
	MaxParallelTasks    *int             `json:"maxParallelTasks,omitempty"`
	AllowTaskPreemption *bool            `json:"allowTaskPreemption,omitempty"`
	OnAllTasksComplete  string           `json:"onAllTasksComplete,omitempty"`
	Constraints         *JobConstraints  `json:"constraints,omitempty"`
	PoolInfo            *PoolInformation `json:"poolInfo,omitempty"`
	Metadata            []NameValue      `json:"metadata,omitempty"`
}

// Job schedule states.
const (
	ScheduleActive      = "active"
	ScheduleDisabled    = "disabled"
	ScheduleTerminating = "terminating"
	ScheduleCompleted   = "completed"
	ScheduleDeleting    = "deleting"
)

// MinRecurrence is the shortest recurrenceInterval and startWindow Azure
// accepts.
const MinRecurrence = time.Minute

// Sentinels of job schedules, matched with errors.Is like the others.
var (
	ErrJobScheduleNotFound = &Error{Status: 404, Code: "JobScheduleNotFound", Message: "The specified job schedule does not exist."}
	ErrJobScheduleExists   = &Error{Status: 409, Code: "JobScheduleExists", Message: "The specified job schedule already exists."}
)

// ScheduleJobID is the id of the n-th job (1-based) a schedule creates, as
// Azure names them: "<scheduleId>:job-<n>".
func ScheduleJobID(scheduleID string, n int) string {
	return scheduleID + ":job-" + strconv.Itoa(n)
}

// ValidJobID checks the id of an existing job: a valid id (ValidID), or
// the id of a job a schedule created ("<scheduleId>:job-<n>"), which may
// also be given in its key form with "=" for ":".
func ValidJobID(property, id string) error {
	if err := ValidID(property, id); err == nil {
		return nil
	}
	i := strings.LastIndexAny(id, ":=")
	if i < 0 {
		return ValidID(property, id)
	}
	n, ok := strings.CutPrefix(id[i+1:], "job-")
	if _, err := strconv.ParseUint(n, 10, 31); !ok || err != nil || n == "" || n[0] == '0' {
		return InvalidProperty(property, "the id of a job of a job schedule is <scheduleId>:job-<n>")
	}
	return ValidID(property, id[:i])
}

// ValidateSchedule checks a schedule; minInterval is the shortest
// recurrenceInterval and startWindow allowed (Azure: MinRecurrence).
func ValidateSchedule(property string, s *Schedule, minInterval time.Duration) error {
	if s == nil {
		return MissingProperty(property)
	}
	if s.RecurrenceInterval != nil && (s.RecurrenceInterval.Std() < minInterval || s.RecurrenceInterval.IsInfinite()) {
		return InvalidProperty(property+".recurrenceInterval", "must be at least "+D(minInterval).String()+" and finite")
	}
	if s.StartWindow != nil && s.StartWindow.Std() < minInterval {
		return InvalidProperty(property+".startWindow", "must be at least "+D(minInterval).String())
	}
	if s.DoNotRunUntil != nil && s.DoNotRunAfter != nil && !s.DoNotRunAfter.After(s.DoNotRunUntil.Time) {
		return InvalidProperty(property+".doNotRunAfter", "must be later than doNotRunUntil")
	}
	return nil
}

// ValidateJobSpecification checks a schedule's job template as job add
// checks a job (errors name jobSpecification.<property>) and fills Azure's
// defaults.
func ValidateJobSpecification(property string, s *JobSpecification) error {
	if s == nil {
		return MissingProperty(property)
	}
	if s.PoolInfo == nil {
		return MissingProperty(property + ".poolInfo")
	}
	j := s.Job("schedule-job")
	if err := validateJob(&j, true); err != nil {
		return prefixProperty(property, err)
	}
	s.PoolInfo = j.PoolInfo // the normalised poolLifetimeOption
	s.Priority, s.MaxParallelTasks, s.AllowTaskPreemption = j.Priority, j.MaxParallelTasks, j.AllowTaskPreemption
	s.UsesTaskDependencies, s.OnAllTasksComplete, s.OnTaskFailure = j.UsesTaskDependencies, j.OnAllTasksComplete, j.OnTaskFailure
	s.Constraints = j.Constraints
	s.JobPreparationTask, s.JobReleaseTask = j.JobPreparationTask, j.JobReleaseTask // with their defaults
	return nil
}

// prefixProperty names the property of err inside its parent property.
func prefixProperty(parent string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Values = append([]KV(nil), e.Values...)
	for i, kv := range c.Values {
		if kv.Key == "PropertyName" {
			c.Values[i].Value = parent + "." + kv.Value
		}
	}
	return &c
}

// ValidateJobScheduleAdd checks a job schedule to add and fills Azure's
// defaults; minInterval as for ValidateSchedule.
func ValidateJobScheduleAdd(s *JobSchedule, minInterval time.Duration) error {
	if err := ValidID("id", s.ID); err != nil {
		return err
	}
	if len(s.DisplayName) > 1024 {
		return InvalidProperty("displayName", "may not be longer than 1024 characters")
	}
	if err := ValidateSchedule("schedule", s.Schedule, minInterval); err != nil {
		return err
	}
	if err := ValidateJobSpecification("jobSpecification", s.JobSpecification); err != nil {
		return err
	}
	return validMetadata(s.Metadata)
}

// ValidateJobSchedulePatch checks a patch (replace false) or update
// (replace true) of a job schedule.
func ValidateJobSchedulePatch(p *JobSchedulePatch, replace bool, minInterval time.Duration) error {
	if replace || p.Schedule != nil {
		if err := ValidateSchedule("schedule", p.Schedule, minInterval); err != nil {
			return err
		}
	}
	if replace || p.JobSpecification != nil {
		if err := ValidateJobSpecification("jobSpecification", p.JobSpecification); err != nil {
			return err
		}
	}
	return validMetadata(p.Metadata)
}

// ValidateJobPatch checks a job patch (replace false) or update (replace
// true) and normalises onAllTasksComplete.
func ValidateJobPatch(p *JobPatch, replace bool) error {
	if replace && p.PoolInfo == nil {
		return MissingProperty("poolInfo")
	}
	if p.PoolInfo != nil {
		if p.PoolInfo.AutoPoolSpecification != nil {
			return (&Error{Status: 400, Code: "InvalidPropertyValue",
				Message: "natch does not move a job to an auto pool; give poolInfo.poolId."}).With("PropertyName", "poolInfo.autoPoolSpecification")
		}
		if p.PoolInfo.PoolID == "" {
			return MissingProperty("poolInfo.poolId")
		}
		if err := ValidID("poolInfo.poolId", p.PoolInfo.PoolID); err != nil {
			return err
		}
	}
	if p.Priority != nil && (*p.Priority < -1000 || *p.Priority > 1000) {
		return InvalidProperty("priority", "must be between -1000 and 1000")
	}
	if p.MaxParallelTasks != nil && (*p.MaxParallelTasks == 0 || *p.MaxParallelTasks < -1) {
		return InvalidProperty("maxParallelTasks", "must be -1 (unlimited) or a positive number")
	}
	if p.Constraints != nil {
		if err := retryCount("constraints.maxTaskRetryCount", p.Constraints.MaxTaskRetryCount); err != nil {
			return err
		}
		if err := positiveDuration("constraints.maxWallClockTime", p.Constraints.MaxWallClockTime); err != nil {
			return err
		}
	}
	if p.OnAllTasksComplete != "" {
		v, err := enum("onAllTasksComplete", p.OnAllTasksComplete, OnAllTasksNoAction, OnAllTasksTerminate)
		if err != nil {
			return err
		}
		p.OnAllTasksComplete = v
	}
	return validMetadata(p.Metadata)
}
