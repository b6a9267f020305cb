package service

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/natch-io/natch/shared/batch"
)

var t0 = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)

func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

func mins(m float64) *batch.Duration { return batch.D(time.Duration(m * float64(time.Minute))) }

func TestPlanRecurrence(t *testing.T) {
	t.Parallel()
	hourly := batch.Schedule{RecurrenceInterval: mins(60)}
	windowed := batch.Schedule{RecurrenceInterval: mins(60), StartWindow: mins(10)}
	tests := []struct {
		name  string
		sched batch.Schedule
		next  int64
		now   time.Time
		want  Plan
	}{
		{name: "OnceRunsAtOnce", now: at(0), want: Plan{Run: true, K: 0, Due: at(0)}},
		{name: "OnceRunsLate", now: at(500), want: Plan{Run: true, K: 0, Due: at(0)}},
		{name: "OnceWaitsForDoNotRunUntil", sched: batch.Schedule{DoNotRunUntil: batch.At(at(5))}, now: at(-5), want: Plan{Next: at(0)}},
		{name: "OnceIsDoneAfterItsJob", next: 1, now: at(1), want: Plan{Done: true}},
		{name: "OnceMissedItsStartWindow", sched: batch.Schedule{StartWindow: mins(1)}, now: at(2), want: Plan{Done: true}},
		{name: "OnceWithinItsStartWindow", sched: batch.Schedule{StartWindow: mins(5)}, now: at(2), want: Plan{Run: true, Due: at(0)}},
		{name: "OnceDueAfterDoNotRunAfter", sched: batch.Schedule{DoNotRunAfter: batch.At(at(-1))}, now: at(-5), want: Plan{Done: true}},
		{name: "RecurringRunsFirstAtAnchor", sched: hourly, now: at(0), want: Plan{Run: true, K: 0, Due: at(0), Next: at(60)}},
		{name: "RecurringWaitsForNext", sched: hourly, next: 1, now: at(30), want: Plan{Next: at(60)}},
		{name: "RecurringRunsSecond", sched: hourly, next: 1, now: at(61), want: Plan{Run: true, K: 1, Due: at(60), Next: at(120)}},
		{name: "AfterDowntimeRunsOnlyTheLatest", sched: hourly, next: 1, now: at(610), want: Plan{Run: true, K: 10, Due: at(600), Next: at(660)}},
		{name: "StartWindowSkipsAMissedRun", sched: windowed, next: 1, now: at(75), want: Plan{Next: at(120)}},
		{name: "StartWindowAllowsALateRun", sched: windowed, next: 1, now: at(69), want: Plan{Run: true, K: 1, Due: at(60), Next: at(120)}},
		{name: "DoNotRunAfterEnds", sched: batch.Schedule{RecurrenceInterval: mins(60), DoNotRunAfter: batch.At(at(90))}, next: 2, now: at(100), want: Plan{Done: true}},
		{name: "DoNotRunAfterCutsTheLast", sched: batch.Schedule{RecurrenceInterval: mins(60), DoNotRunAfter: batch.At(at(90))}, next: 1, now: at(61),
			want: Plan{Run: true, K: 1, Due: at(60)}},
		{name: "NoRecurrenceBeforeDoNotRunAfterIsDone", sched: batch.Schedule{RecurrenceInterval: mins(60), DoNotRunAfter: batch.At(at(90))}, next: 2, now: at(70),
			want: Plan{Done: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, PlanRecurrence(tt.sched, t0, tt.next, tt.now))
		})
	}
}

// A property test of PlanRecurrence as the scheduler loop uses it: it is
// evaluated at random moments (changes, restarts) and at every Next it
// returned (its timer), runs what it says, and the schedule's jobs complete
// at random. Then every recurrence has at most one job, none runs before
// it is due, after its start window, before doNotRunUntil or at or after
// doNotRunAfter, and a recurrence is missed only when a job was active or
// its window passed while one was.
func TestPlanRecurrenceProperties(t *testing.T) {
	t.Parallel()
	total := 0
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var s batch.Schedule
		every := time.Duration(1+rng.IntN(10)) * time.Minute
		if rng.IntN(4) > 0 {
			s.RecurrenceInterval = batch.D(every)
		}
		if rng.IntN(2) == 0 {
			s.StartWindow = batch.D(time.Duration(1+rng.IntN(20)) * time.Minute)
		}
		anchor := t0
		if rng.IntN(2) == 0 {
			s.DoNotRunUntil = batch.At(t0)
		}
		if rng.IntN(2) == 0 {
			s.DoNotRunAfter = batch.At(t0.Add(time.Duration(rng.IntN(120)) * time.Minute))
		}
		horizon := t0.Add(3 * time.Hour)
		// Evaluation moments: random ones, plus each Next (the timer).
		var random []time.Time
		for range 40 {
			random = append(random, t0.Add(time.Duration(rng.Int64N(int64(3*time.Hour)))-30*time.Minute))
		}
		var next int64
		var timer time.Time
		var activeUntil time.Time // the running job completes then
		runs := map[int64]time.Time{}
		blocked := map[int64]bool{} // recurrences that fell due while a job was active
		now := t0.Add(-time.Hour)
		for now.Before(horizon) {
			// The next moment: the earliest of timer, random moments, job end.
			cand := horizon
			for _, r := range random {
				if r.After(now) && r.Before(cand) {
					cand = r
				}
			}
			if !timer.IsZero() && timer.After(now) && timer.Before(cand) {
				cand = timer
			}
			if !activeUntil.IsZero() && activeUntil.After(now) && activeUntil.Before(cand) {
				cand = activeUntil
			}
			now = cand
			active := !activeUntil.IsZero() && now.Before(activeUntil)
			p := PlanRecurrence(s, anchor, next, now)
			if p.Run && active {
				blocked[p.K] = true
			}
			if p.Run && !active {
				_, twice := runs[p.K]
				require.False(t, twice, "seed %d: recurrence %d ran twice", seed, p.K)
				require.GreaterOrEqual(t, p.K, next, "seed %d", seed)
				require.False(t, now.Before(p.Due), "seed %d: ran before due", seed)
				require.False(t, now.Before(anchor), "seed %d: ran before doNotRunUntil (the anchor)", seed)
				if s.DoNotRunAfter != nil {
					require.True(t, now.Before(s.DoNotRunAfter.Time), "seed %d: ran after doNotRunAfter", seed)
				}
				if s.StartWindow != nil {
					require.True(t, now.Before(p.Due.Add(s.StartWindow.Std())), "seed %d: ran after its start window", seed)
				}
				if s.RecurrenceInterval == nil {
					require.Zero(t, p.K, "seed %d: a schedule without recurrence runs once", seed)
				}
				runs[p.K] = now
				next = p.K + 1
				if rng.IntN(3) == 0 {
					activeUntil = now.Add(time.Duration(rng.Int64N(int64(3 * every))))
				} else {
					activeUntil = time.Time{}
				}
			}
			timer = p.Next
			if p.Done && !active {
				break
			}
		}
		total += len(runs)
		// None missed: every recurrence due before the horizon (and before
		// doNotRunAfter) ran, unless a job was active when it fell due.
		if s.RecurrenceInterval == nil {
			if s.DoNotRunAfter == nil || t0.Before(s.DoNotRunAfter.Time) {
				require.Contains(t, runs, int64(0), "seed %d: the single job never ran", seed)
			}
			continue
		}
		for k := int64(0); ; k++ {
			due := anchor.Add(time.Duration(k) * every)
			if !due.Before(horizon.Add(-every)) || (s.DoNotRunAfter != nil && !due.Before(s.DoNotRunAfter.Time)) {
				break
			}
			if _, ok := runs[k]; !ok && !blocked[k] {
				require.Failf(t, "missed", "seed %d: recurrence %d (due %s) never ran; runs %v", seed, k, due, runs)
			}
		}
	}
	require.Greater(t, total, 5000, "the simulation ran jobs")
}
