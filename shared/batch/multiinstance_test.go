package batch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateMultiInstance(t *testing.T) {
	t.Parallel()
	job := &Job{ID: "job1"}
	mi := func(n *int, coord string, files ...ResourceFile) *MultiInstanceSettings {
		return &MultiInstanceSettings{NumberOfInstances: n, CoordinationCommandLine: coord, CommonResourceFiles: files}
	}
	tests := []struct {
		name      string
		task      Task
		wantCode  string
		wantProp  string
		wantCount int // numberOfInstances after defaults
	}{
		{name: "Valid", task: Task{ID: "t", CommandLine: "run", MultiInstanceSettings: mi(Int(3), "coord")}, wantCount: 3},
		{name: "DefaultsToOneInstance", task: Task{ID: "t", CommandLine: "run", MultiInstanceSettings: mi(nil, "coord")}, wantCount: 1},
		{name: "ZeroInstances", task: Task{ID: "t", CommandLine: "run", MultiInstanceSettings: mi(Int(0), "coord")},
			wantCode: "InvalidPropertyValue", wantProp: "multiInstanceSettings.numberOfInstances"},
		{name: "TooManyInstances", task: Task{ID: "t", CommandLine: "run", MultiInstanceSettings: mi(Int(MaxInstances+1), "coord")},
			wantCode: "InvalidPropertyValue", wantProp: "multiInstanceSettings.numberOfInstances"},
		{name: "NoCoordinationCommand", task: Task{ID: "t", CommandLine: "run", MultiInstanceSettings: mi(Int(2), " ")},
			wantCode: "MissingRequiredProperty", wantProp: "multiInstanceSettings.coordinationCommandLine"},
		{name: "MoreThanOneSlot", task: Task{ID: "t", CommandLine: "run", RequiredSlots: Int(2), MultiInstanceSettings: mi(Int(2), "coord")},
			wantCode: "InvalidPropertyValue", wantProp: "requiredSlots"},
		{name: "BadCommonResourceFile", task: Task{ID: "t", CommandLine: "run",
			MultiInstanceSettings: mi(Int(2), "coord", ResourceFile{HTTPURL: "http://x/y", FilePath: "../up"})},
			wantCode: "InvalidPropertyValue", wantProp: "multiInstanceSettings.commonResourceFiles[0].filePath"},
		{name: "NotMultiInstance", task: Task{ID: "t", CommandLine: "run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			task := tt.task
			err := ValidateTaskAdd(&task, job)
			if tt.wantCode != "" {
				var be *Error
				require.ErrorAs(t, err, &be)
				require.Equal(t, tt.wantCode, be.Code)
				require.Equal(t, tt.wantProp, be.Value("PropertyName"))
				return
			}
			require.NoError(t, err)
			if tt.wantCount > 0 {
				require.Equal(t, tt.wantCount, *task.MultiInstanceSettings.NumberOfInstances)
				require.Equal(t, tt.wantCount, task.MultiInstanceSettings.Instances())
			} else {
				require.Nil(t, task.MultiInstanceSettings)
				require.Equal(t, 1, task.MultiInstanceSettings.Instances())
			}
		})
	}
}

func TestValidateMultiInstancePool(t *testing.T) {
	t.Parallel()
	mt := &Task{ID: "t", MultiInstanceSettings: &MultiInstanceSettings{NumberOfInstances: Int(2)}}
	tests := []struct {
		name    string
		task    *Task
		pool    *Pool
		wantErr bool
	}{
		{name: "InterNodePool", task: mt, pool: &Pool{ID: "p", EnableInterNodeCommunication: Bool(true)}},
		{name: "PlainPool", task: mt, pool: &Pool{ID: "p", EnableInterNodeCommunication: Bool(false)}, wantErr: true},
		{name: "UnsetMeansFalse", task: mt, pool: &Pool{ID: "p"}, wantErr: true},
		{name: "PlainTaskAnyPool", task: &Task{ID: "t"}, pool: &Pool{ID: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateMultiInstancePool(tt.task, tt.pool)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			var be *Error
			require.ErrorAs(t, err, &be)
			require.Equal(t, "InvalidPropertyValue", be.Code)
			require.Equal(t, "multiInstanceSettings", be.Value("PropertyName"))
			require.Contains(t, be.Value("Reason"), "enableInterNodeCommunication")
		})
	}
}
