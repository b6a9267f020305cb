package batch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIntTaskID(t *testing.T) {
	for id, want := range map[string]int{"0": 0, "4": 4, "04": 4, "004": 4, "000": 0, "123456": 123456} {
		n, ok := IntTaskID(id)
		require.True(t, ok, id)
		require.Equal(t, want, n, id)
	}
	for _, id := range []string{"", "a", "4a", "-4", "+4", " 4", "1234567890123456789"} {
		_, ok := IntTaskID(id)
		require.False(t, ok, id)
	}
}

func TestExitOptionsFor(t *testing.T) {
	code := func(c int) *int { return &c }
	fail := &TaskFailureInformation{Category: CategoryUser, Code: "FailureExitCode"}
	blob := &TaskFailureInformation{Category: CategoryUser, Code: "BlobNotFound"}
	upload := &TaskFailureInformation{Category: CategoryUser, Code: "FileUploadMiscError"}
	ec := &ExitConditions{
		ExitCodes:          []ExitCodeMapping{{Code: 0, ExitOptions: ExitOptions{JobAction: JobActionTerminate}}, {Code: 3, ExitOptions: ExitOptions{DependencyAction: DependencySatisfy}}},
		ExitCodeRanges:     []ExitCodeRangeMapping{{Start: 10, End: 20, ExitOptions: ExitOptions{JobAction: JobActionDisable, DependencyAction: DependencySatisfy}}},
		PreProcessingError: &ExitOptions{JobAction: JobActionNone},
		Default:            &ExitOptions{DependencyAction: DependencySatisfy},
	}
	for _, tc := range []struct {
		name    string
		ec      *ExitConditions
		exit    *int
		failure *TaskFailureInformation
		want    ExitOptions
	}{
		{"clean exit, no conditions", nil, code(0), nil, ExitOptions{JobActionNone, DependencySatisfy}},
		{"failure, no conditions", nil, code(1), fail, ExitOptions{JobActionTerminate, DependencyBlock}},
		{"pre-processing, no conditions", nil, nil, blob, ExitOptions{JobActionTerminate, DependencyBlock}},
		{"exit 0 listed", ec, code(0), nil, ExitOptions{JobActionTerminate, DependencySatisfy}},
		{"listed code, unset job action defaults", ec, code(3), fail, ExitOptions{JobActionTerminate, DependencySatisfy}},
		{"range", ec, code(15), fail, ExitOptions{JobActionDisable, DependencySatisfy}},
		{"unlisted code uses default", ec, code(7), fail, ExitOptions{JobActionTerminate, DependencySatisfy}},
		{"pre-processing option", ec, nil, blob, ExitOptions{JobActionNone, DependencyBlock}},
		{"upload error falls to default", &ExitConditions{Default: ec.Default}, code(0), upload, ExitOptions{JobActionTerminate, DependencySatisfy}},
		{"listed code wins over upload error", ec, code(3), upload, ExitOptions{JobActionTerminate, DependencySatisfy}},
		{"upload option", &ExitConditions{FileUploadError: &ExitOptions{JobAction: JobActionNone, DependencyAction: DependencySatisfy}}, code(0), upload, ExitOptions{JobActionNone, DependencySatisfy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ExitOptionsFor(tc.ec, tc.exit, tc.failure))
		})
	}
}

func TestValidateDependencies(t *testing.T) {
	deps, plain := &Job{UsesTaskDependencies: Bool(true), OnTaskFailure: "noaction"}, &Job{}
	task := func(d *TaskDependencies) *Task { return &Task{ID: "7", CommandLine: "true", DependsOn: d} }
	require.NoError(t, ValidateTaskAdd(task(&TaskDependencies{TaskIDs: []string{"a"}, TaskIDRanges: []TaskIDRange{{1, 6}}}), deps))
	tk := task(&TaskDependencies{})
	require.NoError(t, ValidateTaskAdd(tk, plain), "an empty dependsOn is no dependency")
	require.Nil(t, tk.DependsOn)
	for name, tc := range map[string]struct {
		d    *TaskDependencies
		job  *Job
		code string
	}{
		"job without dependencies": {&TaskDependencies{TaskIDs: []string{"a"}}, plain, "TaskDependenciesNotSpecifiedOnJob"},
		"self":                     {&TaskDependencies{TaskIDs: []string{"7"}}, deps, "InvalidPropertyValue"},
		"self in range":            {&TaskDependencies{TaskIDRanges: []TaskIDRange{{5, 9}}}, deps, "InvalidPropertyValue"},
		"reversed range":           {&TaskDependencies{TaskIDRanges: []TaskIDRange{{9, 8}}}, deps, "InvalidPropertyValue"},
		"too wide":                 {&TaskDependencies{TaskIDRanges: []TaskIDRange{{100, 100 + MaxDependencyRangeIDs}}}, deps, "InvalidPropertyValue"},
		"too many ranges":          {&TaskDependencies{TaskIDRanges: make([]TaskIDRange, MaxDependencyRanges+1)}, deps, "TaskDependencyRangesTooLong"},
	} {
		err := ValidateTaskAdd(task(tc.d), tc.job)
		require.Error(t, err, name)
		require.Equal(t, tc.code, AsError(err).Code, name)
	}
	long := make([]string, 7000)
	for i := range long {
		long[i] = "parent-task"
	}
	require.Equal(t, "TaskDependencyListTooLong", AsError(ValidateTaskAdd(task(&TaskDependencies{TaskIDs: long}), deps)).Code)
}

func TestOutputPatternsStayInTheTaskDir(t *testing.T) {
	job := &Job{}
	task := func(pattern string) *Task {
		return &Task{ID: "t", CommandLine: "true", OutputFiles: []OutputFile{{FilePattern: pattern,
			Destination:   OutputFileDestination{Container: &OutputFileBlobContainerDestination{ContainerURL: "nats://out"}},
			UploadOptions: OutputFileUploadOptions{UploadCondition: "taskCompletion"}}}}
	}
	for _, ok := range []string{"out/**/*.txt", "../stdout.txt", "../std*.txt", "result.bin", "a/../b"} {
		require.NoError(t, ValidateTaskAdd(task(ok), job), ok)
	}
	for _, bad := range []string{"/etc/passwd", "../../x", "../../**", "*/../../x", "out/", "a/**/../x"} {
		err := ValidateTaskAdd(task(bad), job)
		require.Error(t, err, bad)
		require.Equal(t, "outputFiles[0].filePattern", AsError(err).Values[0].Value, bad)
	}
}
