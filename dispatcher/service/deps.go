package service

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// Task dependencies.
//
// A task with dependsOn is stored like any other but not queued: its record
// lists, in Waiting, the deps keys it still waits for — one per parent task
// id, one per integer id its ranges cover. The deps bucket holds, per deps
// key, the tasks waiting for it and, once a matching parent has ended, the
// outcome (satisfy or block). Both sides meet on that one key by
// compare-and-set: a child registers after its record exists, a parent
// records its outcome and then resolves the dependents it finds; whichever
// comes second sees the other. Resolving removes the key from the child's
// Waiting (idempotent) and the write that empties it queues the task.
// Nothing polls and nothing scans: each edge costs one write on each side.

// maxDependents bounds how many tasks may wait for one task id: the
// dependents list is one KV value.
const maxDependents = 50000

// errTooManyDependents refuses a task whose parent already has maxDependents waiting.
var errTooManyDependents = batch.Errorf(409, "TooManyDependentTasks",
	"A task this task depends on already has the most dependent tasks natch tracks (50000).")

// depKeys returns the deps keys a task waits for, without duplicates.
func depKeys(account, jobKey string, d *batch.TaskDependencies) []string {
	if d == nil {
		return nil
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, id := range d.TaskIDs {
		add(topology.DepKey(account, jobKey, batch.Key(id)))
	}
	for _, r := range d.TaskIDRanges {
		for n := r.Start; n <= r.End; n++ {
			add(topology.DepRangeKey(account, jobKey, n))
		}
	}
	return keys
}

// parentKeys are the deps keys a task's end resolves: its id, and its
// integer value when the id is an integer.
func parentKeys(account, jobKey, taskID string) []string {
	keys := []string{topology.DepKey(account, jobKey, batch.Key(taskID))}
	if n, ok := batch.IntTaskID(taskID); ok {
		keys = append(keys, topology.DepRangeKey(account, jobKey, n))
	}
	return keys
}

// resolution is a deps key's outcome as it applies to a waiting task.
type resolution struct {
	key     string
	outcome string
	parent  string
}

// registerDeps records newly created tasks as dependents of what they wait
// for and applies what is already known. It returns, per task key, an
// error for the tasks that could not be registered (their record stays; the
// caller takes it back).
func (s *Service) registerDeps(ctx context.Context, account string, job *state.JobRecord, recs map[string]*state.TaskRecord) map[string]error {
	byDep := map[string][]string{} // deps key → task keys waiting for it
	for taskKey, rec := range recs {
		for _, k := range rec.Waiting {
			byDep[k] = append(byDep[k], taskKey)
		}
	}
	deps := make([]string, 0, len(byDep))
	for k := range byDep {
		deps = append(deps, k)
	}
	var mu sync.Mutex
	known := map[string][]resolution{} // task key → outcomes already recorded
	failed := map[string]error{}
	got, errs := s.upsertDeps(ctx, deps, func(i int, d *state.Dep) error {
		if d.Outcome != "" {
			return state.ErrStop
		}
		n := len(d.Dependents)
		for _, w := range byDep[deps[i]] {
			if !slices.Contains(d.Dependents[:n], w) {
				d.Dependents = append(d.Dependents, w)
			}
		}
		if len(d.Dependents) > maxDependents {
			return errTooManyDependents
		}
		return nil
	})
	for i, k := range deps {
		for _, w := range byDep[k] {
			switch {
			case errs[i] != nil:
				failed[w] = errs[i]
			case got[i].Outcome != "":
				known[w] = append(known[w], resolution{key: k, outcome: got[i].Outcome, parent: got[i].Parent})
			}
		}
	}
	tasks := make([]string, 0, len(known))
	for k := range known {
		if failed[k] == nil {
			tasks = append(tasks, k)
		}
	}
	bounded(32, len(tasks), func(i int) {
		if err := s.resolveChild(ctx, account, job, tasks[i], known[tasks[i]]); err != nil {
			mu.Lock()
			failed[tasks[i]] = err
			mu.Unlock()
		}
	})
	return failed
}

// upsertDep is Deps.Upsert through the dependency cache: a cached entry is
// changed with one compare-and-set. A cached entry that mutate leaves
// alone, or that changed meanwhile, is decided on the stored one, so a
// stale cache never decides anything.
func (s *Service) upsertDep(ctx context.Context, key string, mutate func(*state.Dep) error) (*state.Dep, error) {
	if d, rev, ok := s.deps.get(key); ok && mutate(d) == nil {
		nrev, ok, err := s.st.Deps.UpdateAt(ctx, key, d, rev)
		if err == nil && ok {
			s.deps.put(key, d, nrev)
			return d, nil
		}
	}
	d, rev, err := s.st.Deps.Upsert(ctx, key, mutate)
	if err != nil {
		s.deps.del(key)
		return nil, err
	}
	s.deps.put(key, d, rev)
	return d, nil
}

// upsertDeps is upsertDep for many keys at once: the entries in the cache
// (and those assumed new) are written with one pipelined round of
// compare-and-sets; the rest, and any write that lost a race, go through
// upsertDep. mutate(i, d) changes the entry of keys[i].
func (s *Service) upsertDeps(ctx context.Context, keys []string, mutate func(i int, d *state.Dep) error) ([]*state.Dep, []error) {
	out := make([]*state.Dep, len(keys))
	errs := make([]error, len(keys))
	var writes []state.Write[state.Dep]
	var idx, slow []int
	for i, k := range keys {
		d, rev, ok := s.deps.get(k)
		if !ok {
			d, rev = &state.Dep{}, 0 // most likely new: written as a create
		}
		if mutate(i, d) != nil {
			slow = append(slow, i) // decided on the stored entry
			continue
		}
		writes = append(writes, state.Write[state.Dep]{Key: k, Value: d, Revision: rev})
		idx = append(idx, i)
	}
	for n, r := range s.st.Deps.UpdateManyAt(ctx, writes) {
		i := idx[n]
		if r.Err != nil || !r.OK {
			slow = append(slow, i)
			continue
		}
		out[i] = writes[n].Value
		s.deps.put(keys[i], out[i], r.Revision)
	}
	bounded(32, len(slow), func(n int) {
		i := slow[n]
		out[i], errs[i] = s.upsertDep(ctx, keys[i], func(d *state.Dep) error { return mutate(i, d) })
	})
	return out, errs
}

// resolveParents records how ended tasks end for their dependents and
// resolves those. It is idempotent: running it again for the same ended
// tasks changes nothing more (a crash half-way is finished by the
// redelivered event). It returns the tasks (keys) it could not finish.
func (s *Service) resolveParents(ctx context.Context, account string, job *state.JobRecord, ended []*state.TaskRecord) map[string]error {
	jobKey := batch.Key(job.ID)
	type parentDep struct {
		taskKey string
		key     string
		rec     *state.TaskRecord
	}
	var work []parentDep
	for _, t := range ended {
		tk := topology.TaskKey(account, jobKey, batch.Key(t.ID))
		for _, k := range parentKeys(account, jobKey, t.ID) {
			work = append(work, parentDep{tk, k, t})
		}
	}
	var mu sync.Mutex
	failed := map[string]error{}
	children := map[string][]resolution{}
	depKeys := make([]string, len(work))
	for i, w := range work {
		depKeys[i] = w.key
	}
	deps, errs := s.upsertDeps(ctx, depKeys, func(i int, d *state.Dep) error {
		if d.Outcome != "" {
			return state.ErrStop // recorded before (a replay, or another task of the same integer id)
		}
		rec := work[i].rec
		ei := rec.ExecutionInfo
		if ei == nil {
			ei = &batch.TaskExecutionInformation{}
		}
		d.Outcome = batch.ExitOptionsFor(rec.ExitConditions, ei.ExitCode, ei.FailureInfo).DependencyAction
		d.Parent = rec.ID
		return nil
	})
	for i, w := range work {
		if errs[i] != nil {
			failed[w.taskKey] = errs[i]
			continue
		}
		d := deps[i]
		for _, c := range d.Dependents {
			children[c] = append(children[c], resolution{key: w.key, outcome: d.Outcome, parent: d.Parent})
		}
	}
	keys := make([]string, 0, len(children))
	for k := range children {
		keys = append(keys, k)
	}
	var childErr error
	bounded(32, len(keys), func(i int) {
		if err := s.resolveChild(ctx, account, job, keys[i], children[keys[i]]); err != nil {
			mu.Lock()
			childErr = err
			mu.Unlock()
		}
	})
	if childErr != nil {
		// Which parent's resolution failed is not known: retry them all.
		for _, t := range ended {
			failed[topology.TaskKey(account, jobKey, batch.Key(t.ID))] = childErr
		}
	}
	return failed
}

// resolveChild applies resolved dependencies to a waiting task; the write
// that leaves it waiting for nothing queues it. The record comes from the
// cache when it can: a merge task waiting for thousands of parents is
// updated once per batch of their events, and decoding its list each time
// would cost more than the rest of the batch.
func (s *Service) resolveChild(ctx context.Context, account string, job *state.JobRecord, taskKey string, rs []resolution) error {
	fresh := false
	for {
		rec, rev, err := s.taskRecord(ctx, taskKey, fresh)
		if errors.Is(err, batch.ErrTaskNotFound) {
			s.recs.del(taskKey)
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		rec.Waiting = slices.Clone(rec.Waiting) // the cached copy shares the array
		if !s.unwait(rec, rs) {
			return nil
		}
		nrev, ok, err := s.st.Tasks.UpdateAt(ctx, taskKey, rec, rev)
		if err != nil {
			s.recs.del(taskKey)
			return err
		}
		if !ok {
			fresh = true
			continue // changed meanwhile: apply to the current value
		}
		s.recs.put(taskKey, rec, nrev)
		if !rec.Ready() {
			return nil
		}
		return s.queueReady(ctx, account, job, rec)
	}
}

// unwait removes the resolved parents from a task's waiting list and
// records a blocking one. It reports whether the record changed.
func (s *Service) unwait(t *state.TaskRecord, rs []resolution) bool {
	changed := false
	for _, r := range rs {
		i := slices.Index(t.Waiting, r.key)
		if i < 0 {
			continue
		}
		t.Waiting = slices.Delete(t.Waiting, i, i+1)
		changed = true
		if r.outcome == batch.DependencyBlock && t.BlockedBy == "" {
			t.BlockedBy = r.parent
		}
	}
	if !changed {
		return false
	}
	if len(t.Waiting) == 0 {
		t.Waiting = nil
	}
	t.ETag, t.LastModified = s.st.Stamp()
	return true
}

// queueReady publishes a ready task's message, unless its job holds its
// tasks back (disabled: queued on enable; ending: never).
func (s *Service) queueReady(ctx context.Context, account string, job *state.JobRecord, rec *state.TaskRecord) error {
	cur, err := s.jobs.get(ctx, s, account, batch.Key(job.ID))
	if err != nil {
		return err
	}
	if cur.State != batch.JobActive {
		return nil
	}
	msg, err := s.readyMsg(ctx, account, cur, rec)
	if err != nil {
		return err
	}
	if _, err = s.publish(ctx, msg); err != nil {
		return err
	}
	if s.held(account, cur) {
		s.kickGate(account, batch.Key(cur.ID))
	}
	return nil
}

// unresolveParent undoes a reactivated task's outcome: the tasks it
// blocked wait for it again.
func (s *Service) unresolveParent(ctx context.Context, account string, job *state.JobRecord, taskID string) error {
	jobKey := batch.Key(job.ID)
	for _, k := range parentKeys(account, jobKey, taskID) {
		var dependents []string
		_, _, err := s.st.Deps.Update(ctx, k, func(d *state.Dep) error {
			if d.Outcome != batch.DependencyBlock || !batch.EqualFold(d.Parent, taskID) {
				return state.ErrStop
			}
			dependents = d.Dependents
			d.Outcome, d.Parent = "", ""
			return nil
		})
		s.deps.del(k)
		if errors.Is(err, batch.ErrTaskNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		for _, c := range dependents {
			_, _, err := s.st.Tasks.Update(ctx, c, func(t *state.TaskRecord) error {
				if t.State != batch.TaskActive || slices.Contains(t.Waiting, k) {
					return state.ErrStop
				}
				if batch.EqualFold(t.BlockedBy, taskID) {
					t.BlockedBy = ""
				}
				t.Waiting = append(t.Waiting, k)
				t.ETag, t.LastModified = s.st.Stamp()
				return nil
			})
			s.recs.del(c)
			if err != nil && !errors.Is(err, batch.ErrTaskNotFound) {
				return err
			}
		}
	}
	return nil
}

// purgeDeps removes a deleted job's dependency records.
func (s *Service) purgeDeps(ctx context.Context, account, jobKey string) error {
	str, err := s.js.Stream(ctx, "KV_"+topology.DepsBucket)
	if err != nil {
		return err
	}
	return str.Purge(ctx, jetstream.WithPurgeSubject("$KV."+topology.DepsBucket+"."+topology.JobDepKeys(account, jobKey)))
}

// usesDeps reports whether a job's tasks may have dependencies.
func usesDeps(j *state.JobRecord) bool {
	return j.UsesTaskDependencies != nil && *j.UsesTaskDependencies
}
