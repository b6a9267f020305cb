package service

import (
	"time"

	"github.com/natch-io/natch/shared/batch"
)

// Plan is what a job schedule does at a given moment, decided by
// PlanRecurrence.
type Plan struct {
	// Run says to create the job of recurrence K now.
	Run bool
	// K is the recurrence to run (when Run).
	K int64
	// Due is when recurrence K was due (when Run).
	Due time.Time
	// Next is the due time of the next recurrence that may run after this
	// moment (after K when Run): when to look at the schedule again. Zero
	// when no further job will be due.
	Next time.Time
	// Done says that no job is due now and none ever will be: the schedule
	// completes once it has no active job.
	Done bool
}

// PlanRecurrence is the pure rule of job schedules. Recurrence k of a
// schedule is due at anchor + k × recurrenceInterval (only k = 0 without
// a recurrence interval) and may be created from its due time until its
// start window has passed, and never at or after doNotRunAfter.
// Recurrences below next were run or skipped already.
//
// At now, the recurrence to run is the latest one that is due: those
// missed in between are skipped, so a dispatcher that was down for a while
// creates one job, not a burst. The caller runs it only when the schedule
// has no active job (a schedule has at most one); otherwise it waits, and
// is skipped if its window passes first.
func PlanRecurrence(s batch.Schedule, anchor time.Time, next int64, now time.Time) Plan {
	var after time.Time
	if s.DoNotRunAfter != nil {
		after = s.DoNotRunAfter.Time
		if !now.Before(after) {
			return Plan{Done: true}
		}
	}
	ended := func(due time.Time) bool { // its start window has passed
		return s.StartWindow != nil && !s.StartWindow.IsInfinite() && !now.Before(due.Add(s.StartWindow.Std()))
	}
	valid := func(t time.Time) bool { return after.IsZero() || t.Before(after) }
	if s.RecurrenceInterval == nil || *s.RecurrenceInterval <= 0 {
		switch {
		case next > 0 || !valid(anchor) || (!now.Before(anchor) && ended(anchor)):
			return Plan{Done: true}
		case now.Before(anchor):
			return Plan{Next: anchor}
		}
		return Plan{Run: true, K: 0, Due: anchor}
	}
	every := s.RecurrenceInterval.Std()
	due := func(k int64) time.Time { return anchor.Add(time.Duration(k) * every) }
	latest := int64(-1) // the latest recurrence due at now
	if !now.Before(anchor) {
		latest = int64(now.Sub(anchor) / every)
	}
	if latest >= next && !ended(due(latest)) {
		p := Plan{Run: true, K: latest, Due: due(latest)}
		if t := due(latest + 1); valid(t) {
			p.Next = t
		}
		return p
	}
	k := max(next, latest+1)
	t := due(k)
	if !valid(t) {
		return Plan{Done: true}
	}
	return Plan{Next: t}
}
