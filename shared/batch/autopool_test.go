package batch

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateAutoPool(t *testing.T) {
	t.Parallel()
	auto := func(mut func(*AutoPoolSpecification)) *PoolInformation {
		a := &AutoPoolSpecification{AutoPoolIDPrefix: "ap", PoolLifetimeOption: "Job", Pool: &PoolSpecification{VMSize: "x"}}
		if mut != nil {
			mut(a)
		}
		return &PoolInformation{AutoPoolSpecification: a}
	}
	tests := []struct {
		name     string
		pi       *PoolInformation
		code     string
		property string
	}{
		{name: "Valid", pi: auto(nil)},
		{name: "Both", pi: &PoolInformation{PoolID: "p", AutoPoolSpecification: auto(nil).AutoPoolSpecification},
			code: "InvalidPropertyValue", property: "poolInfo"},
		{name: "NoLifetime", pi: auto(func(a *AutoPoolSpecification) { a.PoolLifetimeOption = "" }),
			code: "MissingRequiredProperty", property: "poolInfo.autoPoolSpecification.poolLifetimeOption"},
		{name: "BadLifetime", pi: auto(func(a *AutoPoolSpecification) { a.PoolLifetimeOption = "forever" }),
			code: "InvalidPropertyValue", property: "poolInfo.autoPoolSpecification.poolLifetimeOption"},
		{name: "ScheduleLifetimeOnAJob", pi: auto(func(a *AutoPoolSpecification) { a.PoolLifetimeOption = "jobschedule" }),
			code: "InvalidPropertyValue", property: "poolInfo.autoPoolSpecification.poolLifetimeOption"},
		{name: "LongPrefix", pi: auto(func(a *AutoPoolSpecification) { a.AutoPoolIDPrefix = strings.Repeat("a", 21) }),
			code: "InvalidPropertyValue", property: "poolInfo.autoPoolSpecification.autoPoolIdPrefix"},
		{name: "BadPrefix", pi: auto(func(a *AutoPoolSpecification) { a.AutoPoolIDPrefix = "a.b" }),
			code: "InvalidPropertyValue", property: "poolInfo.autoPoolSpecification.autoPoolIdPrefix"},
		{name: "NoPool", pi: auto(func(a *AutoPoolSpecification) { a.Pool = nil }),
			code: "MissingRequiredProperty", property: "poolInfo.autoPoolSpecification.pool"},
		{name: "PoolWithoutVMSize", pi: auto(func(a *AutoPoolSpecification) { a.Pool.VMSize = "" }),
			code: "MissingRequiredProperty", property: "poolInfo.autoPoolSpecification.pool.vmSize"},
		{name: "BadSlots", pi: auto(func(a *AutoPoolSpecification) { a.Pool.TaskSlotsPerNode = Int(0) }),
			code: "InvalidPropertyValue", property: "poolInfo.autoPoolSpecification.pool.taskSlotsPerNode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := Job{ID: "j", PoolInfo: tt.pi}
			err := ValidateJobAdd(&j)
			if tt.code == "" {
				require.NoError(t, err)
				require.Equal(t, AutoPoolJob, j.PoolInfo.AutoPoolSpecification.PoolLifetimeOption, "normalised")
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
			require.Equal(t, tt.property, e.Value("PropertyName"))
		})
	}
	// In a schedule's job specification, jobschedule is allowed.
	spec := JobSpecification{PoolInfo: auto(func(a *AutoPoolSpecification) { a.PoolLifetimeOption = "JobSchedule" })}
	require.NoError(t, ValidateJobSpecification("jobSpecification", &spec))
	require.Equal(t, AutoPoolJobSchedule, spec.PoolInfo.AutoPoolSpecification.PoolLifetimeOption)

	id := AutoPoolID("ap", "seed")
	require.Equal(t, id, AutoPoolID("ap", "seed"), "deterministic")
	require.NotEqual(t, id, AutoPoolID("ap", "other"))
	require.True(t, strings.HasPrefix(id, "ap_"))
	require.NoError(t, ValidID("id", id))
	require.NoError(t, ValidID("id", AutoPoolID(strings.Repeat("a", 20), "seed")), "fits 64 characters")
}
