package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/dispatcher"
	"github.com/natch-io/natch/dispatcher/dispatchertest"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/config"
)

// setupDispatcherCLI runs a real dispatcher (embedded NATS) for the client
// commands to talk to.
func setupDispatcherCLI(t *testing.T) *cliBundle {
	t.Helper()
	r := dispatchertest.Start(t, "acct", dispatcher.Config{})
	key := base64.StdEncoding.EncodeToString(dispatchertest.Key)
	return &cliBundle{env: map[string]string{
		config.EnvURL:     r.URL,
		config.EnvAccount: "acct",
		config.EnvKey:     key,
		config.EnvConfig:  filepath.Join(t.TempDir(), "none.json"),
	}}
}

func TestCLISchedules(t *testing.T) {
	t.Parallel()
	b := setupDispatcherCLI(t)
	b.ok(t, "pool", "create", "pool1")
	file := filepath.Join(t.TempDir(), "schedule.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"schedule":{"recurrenceInterval":"PT1H"},
		"jobSpecification":{"poolInfo":{"poolId":"pool1"},"onAllTasksComplete":"terminatejob"}}`), 0o600))
	require.Equal(t, "created job schedule nightly\n", b.ok(t, "schedule", "create", "nightly", "--from-json", file))
	_, err := b.run(t, "schedule", "create", "nightly", "--from-json", file)
	require.ErrorIs(t, err, batch.ErrJobScheduleExists)

	var js batch.JobSchedule
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(b.ok(t, "schedule", "show", "nightly", "-o", "json")), &js))
		return js.ExecutionInfo.RecentJob != nil
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "nightly:job-1", js.ExecutionInfo.RecentJob.ID)
	rows := fields(b.ok(t, "schedule", "list"))
	require.Equal(t, []string{"ID", "STATE", "EVERY", "NEXT", "RUN", "RECENT", "JOB"}, rows[0])
	require.Equal(t, []string{"nightly", "active", "1h0m0s"}, rows[1][:3])
	require.Equal(t, "nightly:job-1", rows[1][len(rows[1])-1])
	show := b.ok(t, "schedule", "show", "nightly")
	require.Contains(t, show, "Job:")
	require.Contains(t, show, "nightly:job-1 (active)")

	require.Equal(t, "job schedule nightly disabled\n", b.ok(t, "schedule", "disable", "nightly"))
	require.Len(t, fields(b.ok(t, "schedule", "list", "--state", "disabled")), 2)
	require.Equal(t, "job schedule nightly enabled\n", b.ok(t, "schedule", "enable", "nightly"))
	require.Equal(t, "job schedule nightly terminating\n", b.ok(t, "schedule", "terminate", "nightly"))
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(b.ok(t, "schedule", "show", "nightly", "-o", "json")), &js))
		return js.State == batch.ScheduleCompleted
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "job schedule nightly deleting\n", b.ok(t, "schedule", "delete", "nightly"))
	require.Eventually(t, func() bool {
		_, err := b.run(t, "schedule", "show", "nightly")
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
	_, err = b.run(t, "schedule", "show", "nightly")
	require.EqualError(t, err, "JobScheduleNotFound: The specified job schedule does not exist.")
}
