package service

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natch-io/natch/dispatcher/state"
	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/topology"
)

// Job priority.
//
// A pool's queue is first in, first out. A pool whose active jobs do not
// all have the same priority is a "priority pool": the ready tasks of every
// job on it go to the held stream (as for maxParallelTasks), and a pool pump
// releases them highest job priority first (oldest job first within a
// priority), and only while the pool's queue holds fewer tasks than its
// usable nodes have slots plus one task per node (so that every node has its
// next task at hand). A task already in the queue is never overtaken, and
// running tasks are never preempted, as on Azure. Pools whose jobs all share
// one priority (the usual case: all 0) pay nothing.

// prioritySweep is how often the priority pools are recomputed from the
// jobs, and their pumps run (new nodes add capacity without any task event).
const prioritySweep = time.Second

// priorities knows, per pool, the active jobs and their priorities.
type priorities struct {
	mu     sync.RWMutex
	pools  map[string][]prioJob // pool bucket key (account.pool) → active jobs; only priority pools
	common map[string]int       // the one priority of the other pools' active jobs
	gated  [][2]string          // active jobs with maxParallelTasks: account, job key
	seq    uint64               // the jobs bucket's last sequence when these were computed
}

// prioJob is an active job of a priority pool.
type prioJob struct {
	key      string // job key
	priority int
	created  time.Time
}

// priorityPool reports whether a job's pool releases tasks by priority.
func (s *Service) priorityPool(account string, job *state.JobRecord) bool {
	s.prio.mu.RLock()
	defer s.prio.mu.RUnlock()
	_, ok := s.prio.pools[topology.PoolKey(account, job.PoolKey)]
	return ok
}

// topPriority is the highest job priority of a job's pool when that pool
// releases tasks by priority.
func (s *Service) topPriority(account string, job *state.JobRecord) (int, bool) {
	s.prio.mu.RLock()
	defer s.prio.mu.RUnlock()
	jobs, ok := s.prio.pools[topology.PoolKey(account, job.PoolKey)]
	if !ok || len(jobs) == 0 {
		return 0, false
	}
	return jobs[0].priority, true
}

// jobAdded keeps the priority pools right when a job is added: a job whose
// priority differs from its pool's other jobs makes it a priority pool at
// once, before its first task. Pools whose jobs share one priority (the
// usual case) cost a map lookup.
func (s *Service) jobAdded(ctx context.Context, account string, job *state.JobRecord) {
	pk := topology.PoolKey(account, job.PoolKey)
	prio := batch.IntOr(job.Priority, 0)
	s.prio.mu.RLock()
	_, isPrio := s.prio.pools[pk]
	c, known := s.prio.common[pk]
	s.prio.mu.RUnlock()
	if !isPrio && (known && c == prio || !known && prio == 0) {
		return
	}
	if err := s.sweepPriorities(ctx); err != nil {
		s.log.WarnContext(ctx, "job priorities", "err", err)
	}
}

// runPriorities recomputes the priority pools every prioritySweep and pumps
// them, until ctx ends.
func (s *Service) runPriorities(ctx context.Context) error {
	t := time.NewTicker(prioritySweep)
	defer t.Stop()
	for {
		if err := s.sweepPriorities(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "job priorities", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweepPriorities finds the pools whose active jobs differ in priority,
// and pumps every pool that is, or just stopped being, one; it also kicks
// every job with maxParallelTasks (a safety net for a release that a count
// missed). The jobs are read again only when the jobs bucket changed since
// the last sweep (its last sequence moved): a sweep of an unchanged account
// costs one stream info, however many jobs it keeps.
func (s *Service) sweepPriorities(ctx context.Context) error {
	status, err := s.st.Jobs.KV().Status(ctx)
	if err != nil {
		return err
	}
	var seq uint64
	if bs, ok := status.(*jetstream.KeyValueBucketStatus); ok {
		seq = bs.StreamInfo().State.LastSeq
	}
	s.prio.mu.RLock()
	unchanged := seq != 0 && seq == s.prio.seq
	pools, gatedJobs := s.prio.pools, s.prio.gated
	s.prio.mu.RUnlock()
	if unchanged {
		for pk := range pools {
			s.kickPool(pk)
		}
		for _, g := range gatedJobs {
			s.kickGate(g[0], g[1])
		}
		return nil
	}
	byPool := map[string][]prioJob{}
	var gatedNow [][2]string
	err = s.st.Jobs.Scan(ctx, ">", 0, func(e state.Entry[state.JobRecord]) bool {
		j := e.Value
		if j.State != batch.JobActive {
			return true
		}
		account, _, _ := strings.Cut(e.Key, ".")
		if gated(j) {
			gatedNow = append(gatedNow, [2]string{account, batch.Key(j.ID)})
			s.kickGate(account, batch.Key(j.ID))
		}
		pj := prioJob{key: batch.Key(j.ID), priority: batch.IntOr(j.Priority, 0)}
		if j.CreationTime != nil {
			pj.created = j.CreationTime.Time
		}
		pk := topology.PoolKey(account, j.PoolKey)
		byPool[pk] = append(byPool[pk], pj)
		return true
	})
	if err != nil {
		return err
	}
	next, common := map[string][]prioJob{}, map[string]int{}
	for pk, jobs := range byPool {
		common[pk] = jobs[0].priority
		if slices.ContainsFunc(jobs, func(j prioJob) bool { return j.priority != jobs[0].priority }) {
			slices.SortFunc(jobs, func(a, b prioJob) int {
				return cmp.Or(cmp.Compare(b.priority, a.priority), a.created.Compare(b.created), strings.Compare(a.key, b.key))
			})
			next[pk] = jobs
		}
	}
	s.prio.mu.Lock()
	prev := s.prio.pools
	s.prio.pools, s.prio.common, s.prio.gated, s.prio.seq = next, common, gatedNow, seq
	s.prio.mu.Unlock()
	for pk := range next {
		s.kickPool(pk)
	}
	for pk := range prev {
		if _, ok := next[pk]; !ok {
			s.kickPool(pk) // no longer a priority pool: release what it held
		}
	}
	return nil
}

// kickPool runs a pool's pump in the background (one at a time per pool).
func (s *Service) kickPool(poolBucketKey string) {
	s.runOnce("pool:"+poolBucketKey, func(ctx context.Context) error { return s.pumpPool(ctx, poolBucketKey) })
}

// pumpPool releases held tasks of a priority pool's jobs, highest priority
// first, while the pool's queue is below its capacity. A pool that is no
// longer a priority pool gets its held tasks released to the jobs' own
// gates (or all of them).
func (s *Service) pumpPool(ctx context.Context, poolBucketKey string) error {
	account, poolKey, _ := strings.Cut(poolBucketKey, ".")
	s.prio.mu.RLock()
	jobs, ok := s.prio.pools[poolBucketKey]
	s.prio.mu.RUnlock()
	if !ok {
		// Not (or no longer) a priority pool: each job's own gate decides.
		return s.st.Jobs.Scan(ctx, account+".*", 0, func(e state.Entry[state.JobRecord]) bool {
			if e.Value.PoolKey == poolKey && e.Value.State == batch.JobActive {
				s.kickGate(account, batch.Key(e.Value.ID))
			}
			return true
		})
	}
	free, err := s.poolRoom(ctx, account, poolKey)
	if err != nil {
		return err
	}
	for _, pj := range jobs {
		if free <= 0 {
			return nil
		}
		job, _, err := s.st.Jobs.Get(ctx, topology.JobKey(account, pj.key))
		if err != nil || job.State != batch.JobActive {
			continue
		}
		n := free
		if gated(job) {
			inFlight, err := s.inFlight(ctx, account, job)
			if err != nil {
				return err
			}
			n = min(n, *job.MaxParallelTasks-inFlight)
		}
		if n <= 0 {
			continue
		}
		cons, err := s.heldConsumer(ctx, account, pj.key)
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			released, err := s.releaseOne(ctx, cons, job, account, pj.key)
			if err != nil {
				return err
			}
			if !released {
				break
			}
			free--
		}
	}
	return nil
}

// poolRoom is how many more tasks a pool's queue should hold: its usable
// nodes' slots plus one per node, less what the queue holds (queued and
// running tasks).
func (s *Service) poolRoom(ctx context.Context, account, poolKey string) (int, error) {
	nodes, err := s.st.Nodes.List(ctx, topology.PoolNodeKeys(account, poolKey))
	if err != nil {
		return 0, err
	}
	capacity := 0
	for _, e := range nodes {
		if usable(e.Value) {
			capacity += e.Value.Slots + 1
		}
	}
	queued, err := s.queuedTasks(ctx, topology.PoolTasksFilter(account, poolKey))
	return capacity - queued, err
}
