package state

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// Account is a natch account: a name and two keys (base64), either of which
// signs requests.
type Account struct {
	Name string   `json:"name"`
	Keys []string `json:"keys"`
}

// JobRecord is a job as stored: the API shape plus what the dispatcher
// needs to know about it.
type JobRecord struct {
	batch.Job
	// PoolKey is the storage key of the job's pool.
	PoolKey string `json:"natchPoolKey"`
	// ScheduleKey is the storage key of the job schedule that created the
	// job; empty for a job added directly.
	ScheduleKey string `json:"natchScheduleKey,omitempty"`
	// AutoPoolID is the auto pool created for this job alone (lifetime
	// job), deleted when the job ends unless kept alive.
	AutoPoolID string `json:"natchAutoPool,omitempty"`
}

// ScheduleRecord is a job schedule as stored: the API shape plus where
// the schedule is in its recurrences.
type ScheduleRecord struct {
	batch.JobSchedule
	// Anchor is the due time of the first recurrence: doNotRunUntil, or
	// when the schedule was added or its schedule last changed.
	Anchor batch.Time `json:"natchAnchor"`
	// NextRecurrence is the index of the first recurrence not yet run or
	// skipped (recurrence k is due at Anchor + k × recurrenceInterval).
	NextRecurrence int64 `json:"natchNextRecurrence"`
	// JobCount is how many jobs the schedule has created; the n-th is
	// batch.ScheduleJobID(id, n).
	JobCount int `json:"natchJobCount"`
	// ActiveJob is the id of the schedule's job that has not completed
	// yet; empty when there is none.
	ActiveJob string `json:"natchActiveJob,omitempty"`
	// JobCreated says that ActiveJob's record was written. A schedule
	// whose ActiveJob is set but not created (a dispatcher stopped between
	// the two writes) creates it at its next evaluation.
	JobCreated bool `json:"natchJobCreated,omitempty"`
	// AutoPoolID is the auto pool all the schedule's jobs share (lifetime
	// jobschedule): created with the first job, deleted when the schedule
	// completes or is deleted unless kept alive.
	AutoPoolID string `json:"natchAutoPool,omitempty"`
}

// TaskRecord is a task as stored: the API shape plus the dispatch state.
type TaskRecord struct {
	batch.Task
	// PoolKey is the storage key of the pool the task's job runs on.
	PoolKey string `json:"natchPoolKey"`
	// Attempt is the current attempt (0 first, +1 per retry).
	Attempt int `json:"natchAttempt"`
	// Delivery is the highest JetStream delivery count seen for Attempt.
	Delivery int `json:"natchDelivery,omitempty"`
	// SubmitSeq is the submit-stream sequence that added the task (fast path).
	SubmitSeq uint64 `json:"natchSubmitSeq,omitempty"`
	// Waiting are the deps keys of the dependencies not yet resolved; the
	// task is queued when none is left.
	Waiting WaitList `json:"natchWaiting,omitempty"`
	// BlockedBy is the id of the parent whose end blocks this task for good
	// (its dependencyAction was block): it stays active and never runs.
	BlockedBy string `json:"natchBlockedBy,omitempty"`
	// AppPackages are the task's applicationPackageReferences resolved to
	// versions at add (the task's own JSON keeps them as given).
	AppPackages []protocol.AppPackage `json:"natchAppPackages,omitempty"`
}

// WaitList is a task's list of deps keys. In JSON, a run of consecutive
// integer keys of one job (a taskIdRanges dependency, "<account>.<job>.n.<i>")
// is written as one "<account>.<job>.n.<first>-<last>" entry, so that a merge
// task waiting for thousands of parents keeps a small record however often
// it is rewritten. Decoding expands the runs again; a plain list (as
// records written before held) decodes as it is.
type WaitList []string

// rangeKey splits an integer deps key into its prefix (up to and including
// ".n.") and its integer.
func rangeKey(k string) (prefix string, n int, ok bool) {
	i := strings.LastIndex(k, ".n.")
	if i < 0 {
		return "", 0, false
	}
	digits := k[i+3:]
	if !allDigits(digits) || len(digits) > 18 || (len(digits) > 1 && digits[0] == '0') {
		return "", 0, false
	}
	n, err := strconv.Atoi(digits)
	return k[:i+3], n, err == nil
}

// MarshalJSON writes the list with runs of integer keys collapsed.
func (w WaitList) MarshalJSON() ([]byte, error) {
	out := make([]string, 0, len(w))
	var next []byte // the key that would extend the run
	for i := 0; i < len(w); {
		prefix, first, ok := rangeKey(w[i])
		j := i + 1
		for ok && j < len(w) {
			next = strconv.AppendInt(append(next[:0], prefix...), int64(first+j-i), 10)
			if string(next) != w[j] {
				break
			}
			j++
		}
		if j-i >= 2 {
			out = append(out, prefix+strconv.Itoa(first)+"-"+strconv.Itoa(first+j-i-1))
		} else {
			out = append(out, w[i])
		}
		i = j
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a list written by MarshalJSON (or a plain list).
func (w *WaitList) UnmarshalJSON(b []byte) error {
	var in []string
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := make(WaitList, 0, len(in))
	for _, k := range in {
		i := strings.LastIndex(k, ".n.")
		if i < 0 {
			out = append(out, k)
			continue
		}
		first, last, isRun := strings.Cut(k[i+3:], "-")
		if !isRun || !allDigits(first) || !allDigits(last) {
			out = append(out, k) // not a run (a job called "n", say)
			continue
		}
		a, errA := strconv.Atoi(first)
		z, errZ := strconv.Atoi(last)
		if errA != nil || errZ != nil || z < a || z-a > maxWaitRun {
			return fmt.Errorf("natchWaiting: bad run %q", k)
		}
		for n := a; n <= z; n++ {
			out = append(out, k[:i+3]+strconv.Itoa(n))
		}
	}
	if len(out) == 0 {
		out = nil
	}
	*w = out
	return nil
}

// allDigits reports whether s is a non-empty string of ASCII digits.
func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// maxWaitRun bounds a run when decoding, so that a corrupt record cannot
// make the dispatcher allocate without limit.
const maxWaitRun = 10_000_000

// Ready reports whether an active task may be queued: none of its
// dependencies is pending and none blocked it.
func (t *TaskRecord) Ready() bool {
	return t.State == batch.TaskActive && len(t.Waiting) == 0 && t.BlockedBy == ""
}

// Dep is what the dispatcher knows of a task id others depend on: the
// tasks waiting for it, and once it has ended, what that means for them.
type Dep struct {
	// Outcome is set when the parent ended: satisfy or block.
	Outcome string `json:"outcome,omitempty"`
	// Parent is the id of the task that ended (for a range key, the first).
	Parent string `json:"parent,omitempty"`
	// Dependents are the ids (keys) of the tasks waiting for it.
	Dependents []string `json:"dependents,omitempty"`
}

// Counts are a job's task counts, kept up to date by the dispatcher.
type Counts struct {
	Tasks batch.TaskCounts `json:"taskCounts"`
	Slots batch.TaskCounts `json:"taskSlotCounts"`
	// Total is the number of tasks the job has (any state).
	Total int `json:"total"`
	// Usage sums what the job's ended attempts used (job stats).
	Usage Usage `json:"usage,omitzero"`
}

// Usage is what a job's task attempts used, summed as they end.
type Usage struct {
	UserCPU   time.Duration `json:"userCpu,omitempty"`
	KernelCPU time.Duration `json:"kernelCpu,omitempty"`
	WallClock time.Duration `json:"wallClock,omitempty"`
	Wait      time.Duration `json:"wait,omitempty"`
	Retries   int64         `json:"retries,omitempty"`
}

// Add adds d to c.
func (c *Counts) Add(d Counts) {
	add := func(a *batch.TaskCounts, b batch.TaskCounts) {
		a.Active += b.Active
		a.Running += b.Running
		a.Completed += b.Completed
		a.Succeeded += b.Succeeded
		a.Failed += b.Failed
	}
	add(&c.Tasks, d.Tasks)
	add(&c.Slots, d.Slots)
	c.Total += d.Total
	c.Usage.UserCPU += d.Usage.UserCPU
	c.Usage.KernelCPU += d.Usage.KernelCPU
	c.Usage.WallClock += d.Usage.WallClock
	c.Usage.Wait += d.Usage.Wait
	c.Usage.Retries += d.Usage.Retries
}

// IsZero reports whether c changes nothing.
func (c Counts) IsZero() bool { return c == Counts{} }

// CountOf is what one task contributes to its job's counts; nil contributes nothing.
func CountOf(t *TaskRecord) Counts {
	var c Counts
	if t == nil {
		return c
	}
	slots := batch.IntOr(t.RequiredSlots, 1)
	inc := func(f func(*batch.TaskCounts) *int) {
		*f(&c.Tasks)++
		*f(&c.Slots) += slots
	}
	switch t.State {
	case batch.TaskActive:
		inc(func(x *batch.TaskCounts) *int { return &x.Active })
	case batch.TaskRunning, batch.TaskPreparing:
		inc(func(x *batch.TaskCounts) *int { return &x.Running })
	case batch.TaskCompleted:
		inc(func(x *batch.TaskCounts) *int { return &x.Completed })
		if t.ExecutionInfo != nil && t.ExecutionInfo.Result == batch.ResultSuccess {
			inc(func(x *batch.TaskCounts) *int { return &x.Succeeded })
		} else {
			inc(func(x *batch.TaskCounts) *int { return &x.Failed })
		}
	}
	c.Total = 1
	return c
}

// Delta is what changing a task from before to after does to the counts
// (before nil: added; after nil: deleted).
func Delta(before, after *TaskRecord) Counts {
	a, b := CountOf(after), CountOf(before)
	neg := func(x batch.TaskCounts) batch.TaskCounts {
		return batch.TaskCounts{Active: -x.Active, Running: -x.Running, Completed: -x.Completed, Succeeded: -x.Succeeded, Failed: -x.Failed}
	}
	a.Add(Counts{Tasks: neg(b.Tasks), Slots: neg(b.Slots), Total: -b.Total})
	return a
}

// Stamp returns a fresh ETag and lastModified for an entity changed now:
// the ETag is "0x" + .NET FILETIME ticks in hex, as Azure's look, and is
// strictly increasing within this process so two changes never share one.
func (s *Store) Stamp() (etag string, lastModified *batch.Time) {
	const fileTimeEpoch = 0x089F7FF5F7B58000 // 1601-01-01 → 1970-01-01 in 100 ns ticks
	now := s.now()
	ticks := uint64(now.UnixNano()/100) + fileTimeEpoch
	for {
		last := s.lastTick.Load()
		if ticks <= last {
			ticks = last + 1
		}
		if s.lastTick.CompareAndSwap(last, ticks) {
			break
		}
	}
	return fmt.Sprintf("0x%X", ticks), batch.At(now)
}

// SubmitError is a fast-path task add that failed validation.
type SubmitError struct {
	TaskID string           `json:"taskId"`
	Error  *batch.WireError `json:"error"`
}

// AppendJSON appends the record as encoding/json would encode it, without
// reflection for the fields a task's life changes (batch.Task.AppendJSON):
// the dispatcher encodes a record each time it writes one.
func (r *TaskRecord) AppendJSON(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, '{')
	b, err := r.Task.AppendJSONFields(b)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"natchPoolKey":`...)
	b = batch.AppendJSONString(b, r.PoolKey)
	b = append(b, `,"natchAttempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	if r.Delivery != 0 {
		b = append(b, `,"natchDelivery":`...)
		b = strconv.AppendInt(b, int64(r.Delivery), 10)
	}
	if r.SubmitSeq != 0 {
		b = append(b, `,"natchSubmitSeq":`...)
		b = strconv.AppendUint(b, r.SubmitSeq, 10)
	}
	if len(r.Waiting) > 0 {
		w, err := r.Waiting.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"natchWaiting":`...), w...)
	}
	if r.BlockedBy != "" {
		b = append(b, `,"natchBlockedBy":`...)
		b = batch.AppendJSONString(b, r.BlockedBy)
	}
	if len(r.AppPackages) > 0 {
		p, err := json.Marshal(r.AppPackages)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"natchAppPackages":`...), p...)
	}
	return batch.CloseJSONObject(b, start), nil
}
