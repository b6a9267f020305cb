package batch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateJobPrepRelease(t *testing.T) {
	t.Parallel()
	job := func(mut func(*Job)) *Job {
		j := &Job{ID: "j", PoolInfo: &PoolInformation{PoolID: "p"},
			JobPreparationTask: &JobPreparationTask{CommandLine: "prep"},
			JobReleaseTask:     &JobReleaseTask{CommandLine: "release"}}
		if mut != nil {
			mut(j)
		}
		return j
	}
	tests := []struct {
		name     string
		job      *Job
		code     string
		property string
	}{
		{name: "Valid", job: job(nil)},
		{name: "PrepOnly", job: job(func(j *Job) { j.JobReleaseTask = nil })},
		{name: "ReleaseWithoutPrep", job: job(func(j *Job) { j.JobPreparationTask = nil }),
			code: "MissingRequiredProperty", property: "jobPreparationTask"},
		{name: "PrepNoCommandLine", job: job(func(j *Job) { j.JobPreparationTask.CommandLine = "" }),
			code: "MissingRequiredProperty", property: "jobPreparationTask.commandLine"},
		{name: "ReleaseNoCommandLine", job: job(func(j *Job) { j.JobReleaseTask.CommandLine = "" }),
			code: "MissingRequiredProperty", property: "jobReleaseTask.commandLine"},
		{name: "PrepBadID", job: job(func(j *Job) { j.JobPreparationTask.ID = "a b" }),
			code: "InvalidPropertyValue", property: "jobPreparationTask.id"},
		{name: "SameIDs", job: job(func(j *Job) { j.JobPreparationTask.ID = "x"; j.JobReleaseTask.ID = "X" }),
			code: "InvalidPropertyValue", property: "jobReleaseTask.id"},
		{name: "ReleaseTooLong", job: job(func(j *Job) { j.JobReleaseTask.MaxWallClockTime = D(16 * time.Minute) }),
			code: "InvalidPropertyValue", property: "jobReleaseTask.maxWallClockTime"},
		{name: "PrepNegativeRetries", job: job(func(j *Job) {
			j.JobPreparationTask.Constraints = &TaskConstraints{MaxTaskRetryCount: Int(-2)}
		}), code: "InvalidPropertyValue", property: "jobPreparationTask.constraints.maxTaskRetryCount"},
		{name: "PrepResourceFile", job: job(func(j *Job) {
			j.JobPreparationTask.ResourceFiles = []ResourceFile{{HTTPURL: "http://x/y"}}
		}), code: "MissingRequiredProperty", property: "jobPreparationTask.resourceFiles[0].filePath"},
		{name: "ReleaseResourceFile", job: job(func(j *Job) {
			j.JobReleaseTask.ResourceFiles = []ResourceFile{{HTTPURL: "http://x/y", FilePath: "../y"}}
		}), code: "InvalidPropertyValue", property: "jobReleaseTask.resourceFiles[0].filePath"},
		{name: "ReleaseEnv", job: job(func(j *Job) { j.JobReleaseTask.EnvironmentSettings = []NameValue{{Value: "v"}} }),
			code: "MissingRequiredProperty", property: "jobReleaseTask.environmentSettings[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateJobAdd(tt.job)
			if tt.code == "" {
				require.NoError(t, err)
				return
			}
			e := AsError(err)
			require.NotNil(t, e, "%v", err)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.property, e.Value("PropertyName"))
		})
	}
}

func TestJobPrepReleaseDefaults(t *testing.T) {
	t.Parallel()
	j := &Job{ID: "j", PoolInfo: &PoolInformation{PoolID: "p"},
		JobPreparationTask: &JobPreparationTask{CommandLine: "prep"},
		JobReleaseTask:     &JobReleaseTask{CommandLine: "release"}}
	require.NoError(t, ValidateJobAdd(j))
	require.Equal(t, DefaultJobPreparationID, j.JobPreparationTask.ID)
	require.Equal(t, DefaultJobReleaseID, j.JobReleaseTask.ID)
	require.True(t, *j.JobPreparationTask.WaitForSuccess)
	require.True(t, *j.JobPreparationTask.RerunOnNodeRebootAfterSuccess)
	require.Equal(t, 0, *j.JobPreparationTask.Constraints.MaxTaskRetryCount)
	require.Equal(t, Duration(15*time.Minute), *j.JobReleaseTask.MaxWallClockTime)

	for _, id := range []string{"JobPreparation", "jobrelease"} {
		err := ValidateTaskAdd(&Task{ID: id, CommandLine: "x"}, j)
		e := AsError(err)
		require.NotNil(t, e, "%v", err)
		require.Equal(t, 409, e.Status)
		require.Contains(t, e.Code, "TaskIdSameAsJob")
	}
}

func TestValidateStartTask(t *testing.T) {
	t.Parallel()
	pool := func(st *StartTask) *Pool { return &Pool{ID: "p", VMSize: "x", StartTask: st} }
	tests := []struct {
		name     string
		st       *StartTask
		code     string
		property string
	}{
		{name: "Valid", st: &StartTask{CommandLine: "x", MaxTaskRetryCount: Int(-1)}},
		{name: "NoCommandLine", st: &StartTask{}, code: "MissingRequiredProperty", property: "startTask.commandLine"},
		{name: "Retries", st: &StartTask{CommandLine: "x", MaxTaskRetryCount: Int(-3)},
			code: "InvalidPropertyValue", property: "startTask.maxTaskRetryCount"},
		{name: "ResourceFile", st: &StartTask{CommandLine: "x", ResourceFiles: []ResourceFile{{}}},
			code: "InvalidPropertyValue", property: "startTask.resourceFiles[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, err := range []error{ValidatePoolAdd(pool(tt.st)), ValidatePoolPatch(&PoolPatch{StartTask: tt.st})} {
				if tt.code == "" {
					require.NoError(t, err)
					continue
				}
				e := AsError(err)
				require.NotNil(t, e, "%v", err)
				require.Equal(t, tt.code, e.Code)
				require.Equal(t, tt.property, e.Value("PropertyName"))
			}
		})
	}
}

func TestJobSpecificationPrepReleaseDefaults(t *testing.T) {
	t.Parallel()
	s := &JobSpecification{PoolInfo: &PoolInformation{PoolID: "p"},
		JobPreparationTask: &JobPreparationTask{CommandLine: "prep"}, JobReleaseTask: &JobReleaseTask{CommandLine: "rel"}}
	require.NoError(t, ValidateJobSpecification("jobSpecification", s))
	require.Equal(t, DefaultJobPreparationID, s.JobPreparationTask.ID)
	require.Equal(t, DefaultJobReleaseID, s.JobReleaseTask.ID)
	j := s.Job("j1")
	require.NotSame(t, s.JobPreparationTask, j.JobPreparationTask, "each job gets its own copy")
	require.Equal(t, *s.JobPreparationTask, *j.JobPreparationTask)

	bad := &JobSpecification{PoolInfo: &PoolInformation{PoolID: "p"}, JobReleaseTask: &JobReleaseTask{CommandLine: "rel"}}
	e := AsError(ValidateJobSpecification("jobSpecification", bad))
	require.NotNil(t, e)
	require.Equal(t, "jobSpecification.jobPreparationTask", e.Value("PropertyName"))
}
