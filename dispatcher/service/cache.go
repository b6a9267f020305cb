package service

import (
	"container/list"
	"sync"

	"github.com/natch-io/natch/dispatcher/state"
)

// recordCacheSize bounds the task records kept in memory: a million queued
// tasks must not grow the dispatcher, so this is a cache, not the state.
const recordCacheSize = 50000

// recordCache keeps the latest task records this dispatcher wrote, with
// their KV revisions, so that applying a task's events costs one
// compare-and-set instead of a read, a decode and a compare-and-set. A
// record another dispatcher changed fails the compare-and-set and is read
// again, so a stale entry costs a retry, never a wrong write.
type recordCache struct {
	mu    sync.Mutex
	m     map[string]*list.Element
	order *list.List // front = most recent
}

type cached struct {
	key string
	rec *state.TaskRecord // never mutated once cached
	rev uint64
}

func newRecordCache() *recordCache {
	return &recordCache{m: map[string]*list.Element{}, order: list.New()}
}

// get returns a copy of a cached record that the caller may change.
func (c *recordCache) get(key string) (*state.TaskRecord, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return nil, 0, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cached)
	return cloneRecord(e.rec), e.rev, true
}

// put caches a copy of rec at revision rev.
func (c *recordCache) put(key string, rec *state.TaskRecord, rev uint64) {
	cp := cloneRecord(rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		el.Value = &cached{key, cp, rev}
		c.order.MoveToFront(el)
		return
	}
	c.m[key] = c.order.PushFront(&cached{key, cp, rev})
	for c.order.Len() > recordCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(*cached).key)
	}
}

// del forgets a key.
func (c *recordCache) del(key string) {
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
