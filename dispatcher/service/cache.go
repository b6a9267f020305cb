package service

import (
	"container/list"
	"context"
	"slices"
	"sync"

	"github.com/natch-io/natch/dispatcher/state"
)

// recordCacheSize bounds the task records kept in memory: a million queued
// tasks must not grow the dispatcher, so this is a cache, not the state.
const recordCacheSize = 50000

// depCacheSize bounds the dependency entries kept in memory.
const depCacheSize = 50000

// revCache keeps the latest values this dispatcher wrote to a bucket, with
// their KV revisions, so that changing one costs one compare-and-set instead
// of a read, a decode and a compare-and-set. A value another dispatcher
// changed fails the compare-and-set and is read again, so a stale entry
// costs a retry, never a wrong write. It is a bounded LRU.
type revCache[T any] struct {
	mu    sync.Mutex
	m     map[string]*list.Element
	order *list.List // front = most recent
	size  int
	clone func(*T) *T // copies a value deeply enough for its users to change the copy
}

type cached[T any] struct {
	key string
	v   *T // never mutated once cached
	rev uint64
}

// recordCache is the cache of task records; applying a task's events and
// resolving a waiting task's dependencies use it.
type recordCache = revCache[state.TaskRecord]

// taskRecord reads a task record from the cache, or from KV when it is not
// cached or fresh says the cached one lost a compare-and-set. The record is
// the caller's to change.
func (s *Service) taskRecord(ctx context.Context, key string, fresh bool) (*state.TaskRecord, uint64, error) {
	if !fresh {
		if rec, rev, hit := s.recs.get(key); hit {
			return rec, rev, nil
		}
	}
	return s.st.Tasks.Get(ctx, key)
}

func newRecordCache() *recordCache {
	return &revCache[state.TaskRecord]{m: map[string]*list.Element{}, order: list.New(), size: recordCacheSize,
		clone: cloneRecord}
}

// newDepCache is the cache of dependency entries (the deps bucket): a
// parent's entry written when its dependents were added is found there when
// the parent ends.
func newDepCache() *revCache[state.Dep] {
	return &revCache[state.Dep]{m: map[string]*list.Element{}, order: list.New(), size: depCacheSize,
		clone: func(d *state.Dep) *state.Dep {
			cp := *d
			cp.Dependents = slices.Clone(d.Dependents)
			return &cp
		}}
}

// get returns a copy of a cached value that the caller may change.
func (c *revCache[T]) get(key string) (*T, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return nil, 0, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cached[T])
	return c.clone(e.v), e.rev, true
}

// put caches a copy of v at revision rev.
func (c *revCache[T]) put(key string, v *T, rev uint64) {
	cp := c.clone(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		el.Value = &cached[T]{key, cp, rev}
		c.order.MoveToFront(el)
		return
	}
	c.m[key] = c.order.PushFront(&cached[T]{key, cp, rev})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(*cached[T]).key)
	}
}

// del forgets a key.
func (c *revCache[T]) del(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.order.Remove(el)
		delete(c.m, key)
	}
}

// cloneRecord copies a record deeply enough for apply, which changes the
// record's fields and its ExecutionInfo in place and replaces NodeInfo.
func cloneRecord(r *state.TaskRecord) *state.TaskRecord {
	cp := *r
	if r.ExecutionInfo != nil {
		ei := *r.ExecutionInfo
		cp.ExecutionInfo = &ei
	}
	return &cp
}
