package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFanOutFanIn runs split → 1,000 tasks → merge on real workers: every
// task of the fan-out starts after split ended, and merge starts after all
// 1,000 ended and sees all their outputs.
func TestFanOutFanIn(t *testing.T) {
	t.Parallel()
	const width = 1000
	in := startUp(t, t.TempDir())
	out := t.TempDir()
	in.must(201, "POST", "/pools", map[string]any{"id": "p", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2, "taskSlotsPerNode": 4}, nil)
	in.must(201, "POST", "/jobs", map[string]any{"id": "mr", "poolInfo": map[string]any{"poolId": "p"},
		"usesTaskDependencies": true, "onAllTasksComplete": "terminatejob"}, nil)

	// The merge first, then the fan-out, then split: order of adding does not matter.
	in.must(201, "POST", "/jobs/mr/tasks", map[string]any{"id": "merge",
		"commandLine": fmt.Sprintf(`/bin/sh -c 'ls %s | grep -c part > %s/count'`, out, out),
		"dependsOn":   map[string]any{"taskIdRanges": []any{map[string]int{"start": 1, "end": width}}}}, nil)
	for start := 1; start <= width; start += 100 {
		var tasks []map[string]any
		for i := start; i < start+100; i++ {
			tasks = append(tasks, map[string]any{"id": strconv.Itoa(i),
				"commandLine": fmt.Sprintf(`/bin/sh -c 'test -f %s/split && touch %s/part-%d'`, out, out, i),
				"dependsOn":   map[string]any{"taskIds": []string{"split"}}})
		}
		var res struct {
			Value []struct{ Status string }
		}
		in.must(200, "POST", "/jobs/mr/addtaskcollection", map[string]any{"value": tasks}, &res)
		for _, r := range res.Value {
			require.Equal(t, "success", r.Status)
		}
	}
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 0, in.counts("mr").TaskCounts.Completed, "nothing runs before split")
	in.must(201, "POST", "/jobs/mr/tasks", map[string]any{"id": "split",
		"commandLine": fmt.Sprintf(`/bin/sh -c 'sleep 0.2; touch %s/split'`, out)}, nil)

	require.Eventually(t, func() bool {
		var j struct{ State string }
		in.must(200, "GET", "/jobs/mr", nil, &j)
		return j.State == "completed"
	}, 3*time.Minute, 200*time.Millisecond, "the job never completed: %+v", in.counts("mr"))
	c := in.counts("mr").TaskCounts
	require.Equal(t, width+2, c.Succeeded, "%+v", c)
	count, err := os.ReadFile(filepath.Join(out, "count"))
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(width), strings.TrimSpace(string(count)), "merge saw every part")

	tasks := in.allTasks("mr")
	split, merge := tasks["split"], tasks["merge"]
	for id, tk := range tasks {
		if id == "split" || id == "merge" {
			continue
		}
		require.False(t, tk.ExecutionInfo.StartTime.Before(split.ExecutionInfo.EndTime.Time), "task %s started before split ended", id)
		require.False(t, merge.ExecutionInfo.StartTime.Before(tk.ExecutionInfo.EndTime.Time), "merge started before task %s ended", id)
	}
}
