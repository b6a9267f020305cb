package formula

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The documented example formulas (azure-batch.md §4.7 and the Azure
// "automatic scaling" article they come from).
const (
	pendingTasksFormula = `startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes = min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;`

	preemptedFormula = `maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs, maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;`

	timeOfDayFormula = `$curTime = time();
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
$NodeDeallocationOption = taskcompletion;`

	queueFormula = `// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at 20, if target VM value is more than that, set it
// to 20. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;`

	cpuFormula = `$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)`

	parallelTasksFormula = `// Determine whether 70 percent of the samples have been recorded in the past
// 15 minutes; if not, use last sample
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
// Set the number of nodes to add to one-fourth the number of active tasks
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
// Attempt to grow the number of compute nodes to match the number of active
// tasks, with a maximum of 3
$TargetDedicatedNodes = max(0,min($targetVMs,3));
// Keep the nodes active until the tasks finish
$NodeDeallocationOption = taskcompletion;`

	// initialSizeFormula is the docs' "initial pool size" C# template with
	// the pool's start time (RFC 1123) and the initial size 4 filled in.
	initialSizeFormula = `
    $TargetDedicatedNodes = 4;
    lifespan         = time() - time("Wed, 04 Mar 2026 09:30:00 GMT");
    span             = TimeInterval_Minute * 60;
    startup          = TimeInterval_Minute * 10;
    ratio            = 50;

    $TargetDedicatedNodes = (lifespan > startup ? (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0 ? 0 : $TargetDedicatedNodes) : 4);
    `

	// restFormula is the example body of the 2014 "Evaluate an automatic
	// scaling formula" REST page: lower-case $targetDedicatedNodes and the
	// old $CurrentDedicated.
	restFormula = `totalNodes=($CPUPercent.GetSamplePercent(TimeInterval_Minute*0,TimeInterval_Minute*10)<0.7?5:(min($CPUPercent.GetSample(TimeInterval_Minute*0, TimeInterval_Minute*10))>0.8?($CurrentDedicated*1.1):$CurrentDedicated));$targetDedicatedNodes=min(100,totalNodes);`

	// shipyardFormula is what Azure/batch-shipyard generates for its
	// pending_tasks scenario with bias_last_sample.
	shipyardFormula = `maxTasksPerNode = 2;
minTargetDedicated = 0;
minTargetLowPriority = 0;
maxTargetDedicated = 10;
maxTargetLowPriority = 0;
sli = TimeInterval_Second * 900;
samplepercent = $PendingTasks.GetSamplePercent(sli);
lastsample = val($PendingTasks.GetSample(1), 0);
samplevecavg = avg($PendingTasks.GetSample(sli));
PendingTaskAvg = samplepercent < 70 ? max(0, lastsample) : (lastsample < samplevecavg ? avg(lastsample, samplevecavg) : max(lastsample, samplevecavg));
reqVMs = PendingTaskAvg / maxTasksPerNode;
preemptcount = 0;
rebalance = 0 == 1;
dedicatedVMs = min(maxTargetDedicated, max(minTargetDedicated, reqVMs));
$TargetDedicatedNodes = dedicatedVMs;
$TargetLowPriorityNodes = max(minTargetLowPriority, min(maxTargetLowPriority, reqVMs - dedicatedVMs));
$NodeDeallocationOption = taskcompletion;`
)

// docExamples lists every example formula, for the tests and as fuzz seeds.
func docExamples() []string {
	return []string{
		pendingTasksFormula, preemptedFormula, timeOfDayFormula, queueFormula, cpuFormula,
		parallelTasksFormula, initialSizeFormula, restFormula, shipyardFormula,
		"$TargetDedicatedNodes = (time().weekday == 1 ? 5:1);",
		"$TargetDedicatedNodes = 0",
		"$TargetDedicatedNodes = $CurrentDedicatedNodes;",
		"$curTime = time() + (-6 * TimeInterval_Hour);",
		"$runningTasksSample = $RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute);",
		"$runningTasksSample = $RunningTasks.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75);",
		"myActiveSamples=$ActiveTasks.GetSample(5);",
	}
}

func TestDocExamples(t *testing.T) {
	t.Parallel()
	at := func(now time.Time) *fakeEnv { e := newEnv(); e.now = now; return e }
	saturday := time.Date(2026, 3, 7, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		src     string
		env     func() *fakeEnv
		results string
	}{
		{
			// Six samples in the last 180 s (6 expected: 100 %), values
			// 4 8 6 10 12 8: avg = 48/6 = 8; min(25, 8) = 8.
			name: "PendingTasks", src: pendingTasksFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, 4, 8, 6, 10, 12, 8)
				return e
			},
			results: "$TargetDedicatedNodes=8;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"maxNumberofVMs=25;pendingTaskSamplePercent=100;pendingTaskSamples=8;startingNumberOfVMs=1",
		},
		{
			// Three samples of six expected (50 % < 70): the starting size, 1.
			name: "PendingTasksTooFewSamples", src: pendingTasksFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, 40, 40, 40)
				return e
			},
			results: "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"maxNumberofVMs=25;pendingTaskSamplePercent=50;pendingTaskSamples=1;startingNumberOfVMs=1",
		},
		{
			// Preempted counts 3 2 4 in the window: min(25, 3, 2, 4) = 2
			// dedicated; min(25, 25 - 2) = 23 low-priority.
			name: "Preempted", src: preemptedFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PreemptedNodeCount"] = history(e.now, 30*time.Second, 3, 2, 4)
				return e
			},
			results: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=23;$NodeDeallocationOption=taskcompletion;maxNumberofVMs=25",
		},
		{
			// Wednesday 10:30: a working weekday hour, 20 nodes.
			name: "TimeOfDayWorking", src: timeOfDayFormula, env: newEnv,
			results: "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$curTime=2026-03-04T10:30:00.000Z;$isWeekday=1;$isWorkingWeekdayHour=1;$workHours=1",
		},
		{
			// Saturday 10:30: working hours but not a weekday (weekday 6), 10 nodes.
			name: "TimeOfDayWeekend", src: timeOfDayFormula, env: func() *fakeEnv { return at(saturday) },
			results: "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$curTime=2026-03-07T10:30:00.000Z;$isWeekday=0;$isWorkingWeekdayHour=0;$workHours=1",
		},
		{
			// Wednesday 19:00: a weekday after hours, 10 nodes.
			name: "TimeOfDayEvening", src: timeOfDayFormula,
			env: func() *fakeEnv { return at(time.Date(2026, 3, 4, 19, 0, 0, 0, time.UTC)) },
			results: "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$curTime=2026-03-04T19:00:00.000Z;$isWeekday=1;$isWorkingWeekdayHour=0;$workHours=0",
		},
		{
			// 30 samples in 15 min (100 %): 29 fives then a 9. avg = 154/30
			// = 5.133…, max(9, 5.133…) = 9 tasks, 9 nodes (< 20).
			name: "Queue", src: queueFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, append(repeat(5, 29), 9)...)
				return e
			},
			results: "$TargetDedicatedNodes=9;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$samples=100;$targetVMs=9;$tasks=9",
		},
		{
			// 3 of 30 samples (10 % < 70): max(0, last sample 4) = 4 tasks.
			name: "QueueFewSamples", src: queueFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, 1, 2, 4)
				return e
			},
			results: "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$samples=10;$targetVMs=4;$tasks=4",
		},
		{
			// No pending tasks: half the current target, 7/2 = 3.5 → 3;
			// 50 tasks would be capped at 20 (next case).
			name: "QueueIdle", src: queueFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars[TargetDedicatedNodes] = 7
				e.samples["$PendingTasks"] = history(e.now, 0, repeat(0, 30)...)
				return e
			},
			results: "$TargetDedicatedNodes=3;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$samples=100;$targetVMs=3.5;$tasks=0",
		},
		{
			name: "QueueCapped", src: queueFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, repeat(50, 30)...)
				return e
			},
			results: "$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$samples=100;$targetVMs=50;$tasks=50",
		},
		{
			// Last 10 min all 0.8 (min > 0.7): 25 × 1.1 = 27.500000000000004
			// in float64. The hour's avg is (20×0.8 + 100×0.5)/120 = 0.55,
			// not < 0.2, so it stays; min(400, …) = 27.5…, truncated to 27.
			name: "CPUGrow", src: cpuFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars["$CurrentDedicatedNodes"] = 25
				e.samples["$CPUPercent"] = history(e.now, 0, append(repeat(0.5, 100), repeat(0.8, 20)...)...)
				return e
			},
			results: "$TargetDedicatedNodes=27;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$totalDedicatedNodes=27.500000000000004",
		},
		{
			// All 0.1: min 0.1 is not > 0.7 (10), the avg 0.1 < 0.2: 10 × 0.9 = 9.
			name: "CPUShrink", src: cpuFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars["$CurrentDedicatedNodes"] = 10
				e.samples["$CPUPercent"] = history(e.now, 0, repeat(0.1, 120)...)
				return e
			},
			results: "$TargetDedicatedNodes=9;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$totalDedicatedNodes=9",
		},
		{
			// All 0.5 with 500 nodes: no change, capped at 400.
			name: "CPUCapped", src: cpuFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars["$CurrentDedicatedNodes"] = 500
				e.samples["$CPUPercent"] = history(e.now, 0, repeat(0.5, 120)...)
				return e
			},
			results: "$TargetDedicatedNodes=400;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$totalDedicatedNodes=500",
		},
		{
			// Current target 1, 30 samples of 6 active tasks: tasks = 6,
			// cores = 4, extra = (6-4+3)/4 = 1.25, target = 2.25 → 2.
			name: "ParallelTasks", src: parallelTasksFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars[TargetDedicatedNodes] = 1
				e.samples["$ActiveTasks"] = history(e.now, 0, repeat(6, 30)...)
				return e
			},
			results: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"$cores=4;$extraVMs=1.25;$samples=100;$targetVMs=2.25;$tasks=6",
		},
		{
			// The pool is 1 h old (> 10 min startup); 60 of 120 samples
			// (50 % ≥ ratio 50) of running and active tasks, all 0: 0 nodes.
			name: "InitialSizeIdle", src: initialSizeFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$RunningTasks"] = history(e.now, 0, repeat(0, 60)...)
				e.samples["$ActiveTasks"] = history(e.now, 0, repeat(0, 60)...)
				return e
			},
			results: "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;" +
				"lifespan=01:00:00;ratio=50;span=01:00:00;startup=00:10:00",
		},
		{
			// Same, with one running task: keep the target set first, 4.
			name: "InitialSizeBusy", src: initialSizeFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$RunningTasks"] = history(e.now, 0, append(repeat(0, 59), 1)...)
				e.samples["$ActiveTasks"] = history(e.now, 0, repeat(0, 60)...)
				return e
			},
			results: "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;" +
				"lifespan=01:00:00;ratio=50;span=01:00:00;startup=00:10:00",
		},
		{
			// 5 min after the start (< 10 min startup): the initial 4 without
			// reading any samples.
			name: "InitialSizeStartup", src: initialSizeFormula,
			env: func() *fakeEnv { return at(time.Date(2026, 3, 4, 9, 35, 0, 0, time.UTC)) },
			results: "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;" +
				"lifespan=00:05:00;ratio=50;span=01:00:00;startup=00:10:00",
		},
		{
			// 20 of 20 samples (100, not < 0.7), all 0.9 (> 0.8): 25 × 1.1 =
			// 27.500000000000004; min(100, …) truncated to 27.
			name: "RestPage", src: restFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.scalars["$CurrentDedicatedNodes"] = 25
				e.samples["$CPUPercent"] = history(e.now, 0, repeat(0.9, 20)...)
				return e
			},
			results: "$TargetDedicatedNodes=27;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;totalNodes=27.500000000000004",
		},
		{
			// 30 samples (100 %), all 6 but the last 12: avg = 186/30 = 6.2;
			// last 12 ≥ avg, so max = 12 tasks; 12/2 = 6 dedicated nodes.
			name: "Shipyard", src: shipyardFormula,
			env: func() *fakeEnv {
				e := newEnv()
				e.samples["$PendingTasks"] = history(e.now, 0, append(repeat(6, 29), 12)...)
				return e
			},
			results: "$TargetDedicatedNodes=6;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;" +
				"PendingTaskAvg=12;dedicatedVMs=6;lastsample=12;maxTargetDedicated=10;maxTargetLowPriority=0;maxTasksPerNode=2;" +
				"minTargetDedicated=0;minTargetLowPriority=0;preemptcount=0;rebalance=0;reqVMs=6;samplepercent=100;" +
				"samplevecavg=6.2;sli=00:15:00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.env(), tt.src)
			require.Equal(t, tt.results, r.Results())
		})
	}
}

// TestDocExamplesParse: every documented formula parses.
func TestDocExamplesParse(t *testing.T) {
	t.Parallel()
	for _, src := range docExamples() {
		_, err := Parse(src)
		require.NoError(t, err, src)
	}
}

// TestDocGetSamplePercentFailure is the documented failure: a formula
// asking for more samples than exist fails with InsufficientSampleData and
// does not change the pool.
func TestDocGetSamplePercentFailure(t *testing.T) {
	t.Parallel()
	env := newEnv()
	env.scalars[TargetDedicatedNodes] = 3
	env.samples["$RunningTasks"] = history(env.now, 0, repeat(1, 10)...) // 10 of 20 in 10 min: 50 %
	src := "a = 1;\nrunning = avg($RunningTasks.GetSample(TimeInterval_Minute * 10, 70));\n$TargetDedicatedNodes = running"
	r, fe := evalErr(t, env, src)
	require.Equal(t, CodeInsufficientSampleData, fe.Code)
	require.Equal(t, "Line 2, Col 29: Insufficient data from data set: $RunningTasks wanted 70%, received 50%", fe.Error())
	require.Equal(t, "Autoscale evaluation failed due to insufficient sample data", fe.Summary())
	require.Equal(t, 3, r.TargetDedicatedNodes)
}
