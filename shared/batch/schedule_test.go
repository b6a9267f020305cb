package batch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateJobScheduleAdd(t *testing.T) {
	t.Parallel()
	spec := func() *JobSpecification { return &JobSpecification{PoolInfo: &PoolInformation{PoolID: "p"}} }
	hourly := func() *Schedule { return &Schedule{RecurrenceInterval: D(time.Hour)} }
	tests := []struct {
		name     string
		js       JobSchedule
		code     string
		property string
	}{
		{name: "Valid", js: JobSchedule{ID: "s1", Schedule: hourly(), JobSpecification: spec()}},
		{name: "ValidOnce", js: JobSchedule{ID: "s1", Schedule: &Schedule{}, JobSpecification: spec()}},
		{name: "MissingID", js: JobSchedule{Schedule: hourly(), JobSpecification: spec()}, code: "MissingRequiredProperty", property: "id"},
		{name: "BadID", js: JobSchedule{ID: "a:b", Schedule: hourly(), JobSpecification: spec()}, code: "InvalidPropertyValue", property: "id"},
		{name: "LongID", js: JobSchedule{ID: string(make([]byte, 65)), Schedule: hourly(), JobSpecification: spec()}, code: "InvalidPropertyValue", property: "id"},
		{name: "MissingSchedule", js: JobSchedule{ID: "s1", JobSpecification: spec()}, code: "MissingRequiredProperty", property: "schedule"},
		{name: "ShortRecurrence", js: JobSchedule{ID: "s1", Schedule: &Schedule{RecurrenceInterval: D(30 * time.Second)}, JobSpecification: spec()},
			code: "InvalidPropertyValue", property: "schedule.recurrenceInterval"},
		{name: "ShortStartWindow", js: JobSchedule{ID: "s1", Schedule: &Schedule{StartWindow: D(time.Second)}, JobSpecification: spec()},
			code: "InvalidPropertyValue", property: "schedule.startWindow"},
		{name: "AfterBeforeUntil", js: JobSchedule{ID: "s1", Schedule: &Schedule{DoNotRunUntil: At(time.Unix(100, 0)), DoNotRunAfter: At(time.Unix(50, 0))},
			JobSpecification: spec()}, code: "InvalidPropertyValue", property: "schedule.doNotRunAfter"},
		{name: "MissingJobSpecification", js: JobSchedule{ID: "s1", Schedule: hourly()}, code: "MissingRequiredProperty", property: "jobSpecification"},
		{name: "MissingPoolInfo", js: JobSchedule{ID: "s1", Schedule: hourly(), JobSpecification: &JobSpecification{}},
			code: "MissingRequiredProperty", property: "jobSpecification.poolInfo"},
		{name: "BadPriority", js: JobSchedule{ID: "s1", Schedule: hourly(), JobSpecification: &JobSpecification{PoolInfo: &PoolInformation{PoolID: "p"}, Priority: Int(5000)}},
			code: "InvalidPropertyValue", property: "jobSpecification.priority"},
		{name: "BadOnAllTasksComplete", js: JobSchedule{ID: "s1", Schedule: hourly(), JobSpecification: &JobSpecification{PoolInfo: &PoolInformation{PoolID: "p"}, OnAllTasksComplete: "explode"}},
			code: "InvalidPropertyValue", property: "jobSpecification.onAllTasksComplete"},
		{name: "EmptyMetadataKey", js: JobSchedule{ID: "s1", Schedule: hourly(), JobSpecification: spec(), Metadata: []NameValue{{Value: "v"}}},
			code: "EmptyMetadataKey", property: "metadata[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := tt.js
			err := ValidateJobScheduleAdd(&js, MinRecurrence)
			if tt.code == "" {
				require.NoError(t, err)
				require.Equal(t, OnAllTasksNoAction, js.JobSpecification.OnAllTasksComplete, "defaults filled")
				require.Equal(t, 0, *js.JobSpecification.Priority)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.property, e.Value("PropertyName"))
		})
	}
}

func TestValidJobID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"job1": true, "sched_1:job-1": true, "sched_1=job-12": true, "s:job-0": false, "s:job-": false,
		"s:job-x": false, ":job-1": false, "a:b:job-1": false, "s:task-1": false, "": false,
	} {
		require.Equal(t, ok, ValidJobID("jobId", id) == nil, id)
	}
	require.Equal(t, "sched1=job-3", Key(ScheduleJobID("Sched1", 3)))
}

func TestValidateJobPatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		p        JobPatch
		replace  bool
		property string
	}{
		{name: "EmptyPatch", p: JobPatch{}},
		{name: "UpdateNeedsPoolInfo", p: JobPatch{Priority: Int(1)}, replace: true, property: "poolInfo"},
		{name: "Priority", p: JobPatch{Priority: Int(-1001)}, property: "priority"},
		{name: "MaxParallelTasks", p: JobPatch{MaxParallelTasks: Int(0)}, property: "maxParallelTasks"},
		{name: "Retries", p: JobPatch{Constraints: &JobConstraints{MaxTaskRetryCount: Int(-2)}}, property: "constraints.maxTaskRetryCount"},
		{name: "OnAllTasksComplete", p: JobPatch{OnAllTasksComplete: "never"}, property: "onAllTasksComplete"},
		{name: "PoolID", p: JobPatch{PoolInfo: &PoolInformation{PoolID: "a b"}}, property: "poolInfo.poolId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.p
			err := ValidateJobPatch(&p, tt.replace)
			if tt.property == "" {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.property, e.Value("PropertyName"))
		})
	}
}
